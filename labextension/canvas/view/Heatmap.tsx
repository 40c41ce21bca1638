/**
 * Attention heatmaps (SVG): rows are query positions, columns key positions. One head: the
 * theme's brand colour, as opaque as the weight. All heads overlaid: each cell in the colour of
 * the head that attends most there, as opaque as its weight (see attention.ts).
 */
import * as React from 'react';

import { OverlayCell, overlayCells } from '../attention';
import { percent, showToken } from '../format';

interface Grid {
  rows: number;
  cols: number;
  tokens: string[];
  cell?: number;
  labels?: boolean;
  title?: string;
}

export interface HeatmapProps extends Grid {
  values: Float32Array;
  /** Offset of this [rows, cols] block in `values`. */
  offset?: number;
}

/** Room for the token labels left of and above the cells. */
const gutterOf = (labels: boolean | undefined): number => (labels === false ? 0 : 44);

const pair = (tokens: string[], q: number, k: number): string =>
  `${JSON.stringify(tokens[q] ?? q)} → ${JSON.stringify(tokens[k] ?? k)}`;

export function Heatmap({ values, offset = 0, ...grid }: HeatmapProps): React.ReactElement {
  const { rows, cols, tokens, cell = 14 } = grid;
  const gutter = gutterOf(grid.labels);
  const cells: React.ReactElement[] = [];
  for (let q = 0; q < rows; q++) {
    for (let k = 0; k < cols; k++) {
      const v = values[offset + q * cols + k];
      if (!(v > 0.005)) {
        continue; // leave near-zero (and masked) cells as background
      }
      cells.push(
        <rect key={q * cols + k} x={gutter + k * cell} y={gutter + q * cell} width={cell - 1} height={cell - 1} fillOpacity={Math.min(1, v)}>
          <title>{`${pair(tokens, q, k)}: ${percent(v)}`}</title>
        </rect>
      );
    }
  }
  return <HeatmapFrame {...grid}>{cells}</HeatmapFrame>;
}

export interface OverlayProps extends Grid {
  /** [heads, rows, cols] */
  values: Float32Array;
  heads: number;
  /** CSS colour of each head. */
  colors: string[];
}

export function OverlayHeatmap({ values, heads, colors, ...grid }: OverlayProps): React.ReactElement {
  const { rows, cols, tokens, cell = 14 } = grid;
  const gutter = gutterOf(grid.labels);
  const cells = overlayCells(values, heads, rows, cols).map((c: OverlayCell) => (
    <rect
      key={c.query * cols + c.key}
      x={gutter + c.key * cell}
      y={gutter + c.query * cell}
      width={cell - 1}
      height={cell - 1}
      style={{ fill: colors[c.top] }}
      fillOpacity={c.weight}
      data-top-head={c.top}
    >
      <title>{`${pair(tokens, c.query, c.key)}: H${c.top} ${percent(c.weight)} (${percent(c.share)} of all heads' weight here)`}</title>
    </rect>
  ));
  return <HeatmapFrame {...grid}>{cells}</HeatmapFrame>;
}

function HeatmapFrame({ rows, cols, tokens, cell = 14, labels = true, title, children }: Grid & { children: React.ReactNode }): React.ReactElement {
  const gutter = gutterOf(labels);
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
      <g className="jp-Transpector-heatmap-cells">{children}</g>
    </svg>
  );
}
