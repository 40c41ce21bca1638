/**
 * A small bar chart (SVG), one bar per position, labelled with its token.
 */
import * as React from 'react';

import { showToken } from '../format';

const HEIGHT = 80;
const BAR = 18;

export function Bars(props: {
  values: ArrayLike<number>;
  labels: string[];
  describe: (i: number) => string;
  label: string;
  onSelect?: (i: number) => void;
}): React.ReactElement {
  const values = Array.from(props.values);
  const max = Math.max(1e-9, ...values.map(v => (Number.isFinite(v) ? v : 0)));
  return (
    <div className="jp-Transpector-scroll-x">
      <svg width={Math.max(values.length * BAR, 40)} height={HEIGHT + 16} role="img" aria-label={props.label}>
        {values.map((value, i) => {
          const h = Number.isFinite(value) ? (Math.max(value, 0) / max) * HEIGHT : 0;
          return (
            <g key={i} className="jp-Transpector-bars-bar" onClick={() => props.onSelect?.(i)}>
              <title>{props.describe(i)}</title>
              <rect x={i * BAR + 2} y={HEIGHT - h} width={BAR - 4} height={Math.max(h, 1)} />
              <text x={i * BAR + BAR / 2} y={HEIGHT + 12} textAnchor="middle">
                {showToken(props.labels[i] ?? '').slice(0, 2)}
              </text>
            </g>
          );
        })}
      </svg>
    </div>
  );
}
