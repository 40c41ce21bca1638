/**
 * The "Transpector" side panel: renders a PanelModel; holds no state of its own.
 */
import { Widget } from '@lumino/widgets';

import { PanelModel, PanelState } from './panelModel';

export class TranspectorPanel extends Widget {
  constructor(readonly model: PanelModel) {
    super();
    this.id = 'transpector-panel';
    this.addClass('jp-TranspectorPanel');
    this.title.caption = 'Transpector';
    model.changed.connect((_, state) => this._render(state));
    this._render(model.state);
  }

  private _render(state: PanelState): void {
    const root = this.node;
    root.replaceChildren();
    const heading = document.createElement('h2');
    heading.textContent = 'Transpector';
    root.appendChild(heading);
    if (state.kind === 'loading') {
      root.appendChild(note('Loading…', 'jp-TranspectorPanel-empty'));
      return;
    }
    if (state.kind === 'error') {
      root.appendChild(note(`Cannot reach the server extension: ${state.message}`, 'jp-TranspectorPanel-error'));
      return;
    }
    const { info } = state;
    root.appendChild(note(`Version ${info.version}`, 'jp-TranspectorPanel-version'));
    const title = document.createElement('h2');
    title.textContent = 'Running kernels';
    root.appendChild(title);
    if (info.kernels.length === 0) {
      root.appendChild(note('No kernel is running. Open a notebook to start one.', 'jp-TranspectorPanel-empty'));
      return;
    }
    const list = document.createElement('ul');
    list.className = 'jp-TranspectorPanel-kernels';
    for (const kernel of info.kernels) {
      const item = document.createElement('li');
      item.className = 'jp-TranspectorPanel-kernel';
      item.dataset.kernelId = kernel.id;
      item.tabIndex = 0;
      item.append(
        note(`${kernel.name} · ${kernel.id.slice(0, 8)}`, 'jp-TranspectorPanel-name'),
        note(kernel.execution_state, 'jp-TranspectorPanel-state')
      );
      list.appendChild(item);
    }
    root.appendChild(list);
  }
}

function note(text: string, className: string): HTMLElement {
  const element = document.createElement('div');
  element.className = className;
  element.textContent = text;
  return element;
}
