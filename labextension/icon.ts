import { LabIcon } from '@jupyterlab/ui-components';

const svg = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24">
  <g class="jp-icon3" fill="#616161">
    <circle cx="5" cy="6" r="2.2"/><circle cx="5" cy="18" r="2.2"/>
    <circle cx="12" cy="12" r="2.2"/><circle cx="19" cy="6" r="2.2"/><circle cx="19" cy="18" r="2.2"/>
    <path d="M6.6 7.2l3.9 3.4-.9 1-3.9-3.4zM6.6 16.8l3.9-3.4.9 1-3.9 3.4zM17.4 7.2l-3.9 3.4.9 1 3.9-3.4zM17.4 16.8l-3.9-3.4-.9 1 3.9 3.4z"/>
  </g>
</svg>`;

export const transpectorIcon = new LabIcon({ name: 'transpector:icon', svgstr: svg });
