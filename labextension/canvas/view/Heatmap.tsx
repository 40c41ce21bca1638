/**
 * Attention pattern heatmap (SVG): rows are query positions, columns key positions; opacity of
 * the theme's brand colour is the attention weight.
 */
import * as React from 'react';

import { percent, showToken } from '../format';

export interface HeatmapProps {
  values: Float32Array;
  /** Offset of this [rows, cols] block in `values`. */
  offset?: number;
  rows: number;
  cols: number;
  tokens: string[];
  cell?: number;
  labels?: boolean;
  title?: string;
}

export function Heatmap({ values, offset = 0, rows, cols, tokens, cell = 14, labels = true, title }: HeatmapProps): React.ReactElement {
  const gutter = labels ? 44 : 0;
  const cells: React.ReactElement[] = [];
  for (let q = 0; q < rows; q++) {
    for (let k = 0; k < cols; k++) {
      const v = values[offset + q * cols + k];
      if (!(v > 0.005)) {
        continue; // leave near-zero (and masked) cells as background
      }
      cells.push(
        <rect key={q * cols + k} x={gutter + k * cell} y={gutter + q * cell} width={cell - 1} height={cell - 1} fillOpacity={Math.min(1, v)}>
          <title>{`${JSON.stringify(tokens[q] ?? q)} → ${JSON.stringify(tokens[k] ?? k)}: ${percent(v)}`}</title>
        </rect>
      );
    }
  }
  return (
    <svg
      className="jp-Transpector-heatmap"
      width={gutter + cols * cell}
      height={gutter + rows * cell}
      role="img"
      aria-label={title ?? 'attention pattern'}
    >
      <rect className="jp-Transpector-heatmap-bg" x={gutter} y={gutter} width={cols * cell} height={rows * cell} />
      {labels &&
        tokens.slice(0, rows).map((t, q) => (
          <text key={`q${q}`} x={gutter - 4} y={gutter + q * cell + cell * 0.75} textAnchor="end">
            {showToken(t).slice(0, 6)}
          </text>
        ))}
      {labels &&
        tokens.slice(0, cols).map((t, k) => (
          <text
            key={`k${k}`}
            x={0}
            y={0}
            transform={`translate(${gutter + k * cell + cell * 0.7} ${gutter - 4}) rotate(-60)`}
          >
            {showToken(t).slice(0, 6)}
          </text>
        ))}
      <g className="jp-Transpector-heatmap-cells">{cells}</g>
    </svg>
  );
}
