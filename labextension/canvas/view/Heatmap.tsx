/**
 * Attention heatmaps (SVG): rows are query positions, columns key positions. One head: the
 * theme's brand colour, as opaque as the weight. All heads overlaid: each cell in the colour of
 * the head that attends most there, as opaque as its weight (see attention.ts). With labels, the
 * axes are titled "query" and "key", each token label carries the whole token as its tooltip,
 * and a scale under the cells runs from 0 to the largest weight shown (layout: heatmapAxes.ts).
 */
import * as React from 'react';

import { OverlayCell, overlayCells } from '../attention';
import { percent, quote } from '../format';
import { AxisLabel, HeatmapLayout, KEY_ANGLE, SCALE_WIDTH, TITLE_BAND, axisLabels, blockMax, heatmapLayout } from '../heatmapAxes';

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

const pair = (tokens: string[], q: number, k: number): string =>
  `${tokens[q] === undefined ? q : quote(tokens[q])} → ${tokens[k] === undefined ? k : quote(tokens[k])}`;

export function Heatmap({ values, offset = 0, ...grid }: HeatmapProps): React.ReactElement {
  const { rows, cols, tokens, cell = 14 } = grid;
  const layout = layoutOf(grid);
  const cells: React.ReactElement[] = [];
  for (let q = 0; q < rows; q++) {
    for (let k = 0; k < cols; k++) {
      const v = values[offset + q * cols + k];
      if (!(v > 0.005)) {
        continue; // leave near-zero (and masked) cells as background
      }
      cells.push(
        <rect key={q * cols + k} x={layout.left + k * cell} y={layout.top + q * cell} width={cell - 1} height={cell - 1} fillOpacity={Math.min(1, v)}>
          <title>{`${pair(tokens, q, k)}: ${percent(v)}`}</title>
        </rect>
      );
    }
  }
  const max = blockMax(values, offset, rows * cols);
  return (
    <HeatmapFrame {...grid} layout={layout} scale={{ max, color: 'var(--jp-brand-color1)' }}>
      {cells}
    </HeatmapFrame>
  );
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
  const layout = layoutOf(grid);
  const found = overlayCells(values, heads, rows, cols);
  const cells = found.map((c: OverlayCell) => (
    <rect
      key={c.query * cols + c.key}
      x={layout.left + c.key * cell}
      y={layout.top + c.query * cell}
      width={cell - 1}
      height={cell - 1}
      style={{ fill: colors[c.top] }}
      fillOpacity={c.weight}
      data-top-head={c.top}
    >
      <title>{`${pair(tokens, c.query, c.key)}: H${c.top} ${percent(c.weight)} (${percent(c.share)} of all heads' weight here)`}</title>
    </rect>
  ));
  const max = found.reduce((m, c) => Math.max(m, c.weight), 0);
  // Each head has its colour: the scale shows opacity alone, in the theme's text colour.
  return (
    <HeatmapFrame {...grid} layout={layout} scale={{ max, color: 'var(--jp-ui-font-color2)' }}>
      {cells}
    </HeatmapFrame>
  );
}

function layoutOf({ rows, cols, tokens, cell = 14, labels = true }: Grid): HeatmapLayout & { rowLabels: AxisLabel[]; colLabels: AxisLabel[] } {
  const rowLabels = labels ? axisLabels(tokens, rows) : [];
  const colLabels = labels ? axisLabels(tokens, cols) : [];
  return { rowLabels, colLabels, ...heatmapLayout(rows, cols, cell, labels ? rowLabels : null, labels ? colLabels : null) };
}

interface FrameProps extends Grid {
  layout: ReturnType<typeof layoutOf>;
  scale: { max: number; color: string };
  children: React.ReactNode;
}

function HeatmapFrame({ rows, cols, cell = 14, labels = true, title, layout, scale, children }: FrameProps): React.ReactElement {
  const { left, top } = layout;
  return (
    <svg className="jp-Transpector-heatmap" width={layout.width} height={layout.height} role="img" aria-label={title ?? 'attention pattern'}>
      <rect className="jp-Transpector-heatmap-bg" x={left} y={top} width={cols * cell} height={rows * cell} />
      {labels && (
        <>
          <text className="jp-Transpector-heatmap-axis" data-axis="query" transform={`translate(${TITLE_BAND - 4} ${top + (rows * cell) / 2}) rotate(-90)`} textAnchor="middle">
            query
          </text>
          <text className="jp-Transpector-heatmap-axis" data-axis="key" x={left + (cols * cell) / 2} y={TITLE_BAND - 4} textAnchor="middle">
            key
          </text>
          {layout.rowLabels.map((label, q) => (
            <text key={`q${q}`} className="jp-Transpector-heatmap-label" data-axis-of="query" x={left - 4} y={top + q * cell + cell * 0.75} textAnchor="end">
              <title>{label.full}</title>
              {label.text}
            </text>
          ))}
          {layout.colLabels.map((label, k) => (
            <text
              key={`k${k}`}
              className="jp-Transpector-heatmap-label"
              data-axis-of="key"
              transform={`translate(${left + k * cell + cell * 0.7} ${top - 4}) rotate(-${KEY_ANGLE})`}
            >
              <title>{label.full}</title>
              {label.text}
            </text>
          ))}
        </>
      )}
      <g className="jp-Transpector-heatmap-cells">{children}</g>
      {labels && <Scale x={left} y={top + rows * cell + 8} max={scale.max} color={scale.color} />}
    </svg>
  );
}

/** A bar from no weight to the largest weight shown, drawn as the cells are. */
function Scale({ x, y, max, color }: { x: number; y: number; max: number; color: string }): React.ReactElement {
  const id = `tp-scale-${React.useId().replace(/:/g, '')}`;
  const height = 8;
  return (
    <g className="jp-Transpector-heatmap-scale" data-max={max.toFixed(4)}>
      <title>{`Weight: 0 to ${percent(max)}, the largest in this pattern`}</title>
      <defs>
        <linearGradient id={id}>
          <stop offset="0" style={{ stopColor: color, stopOpacity: 0 }} />
          <stop offset="1" style={{ stopColor: color, stopOpacity: Math.min(1, max) }} />
        </linearGradient>
      </defs>
      <rect className="jp-Transpector-heatmap-bg" x={x} y={y} width={SCALE_WIDTH} height={height} />
      <rect x={x} y={y} width={SCALE_WIDTH} height={height} fill={`url(#${id})`} />
      <text data-end="min" x={x} y={y + height + 10}>
        0
      </text>
      <text data-end="max" x={x + SCALE_WIDTH} y={y + height + 10} textAnchor="end">
        {percent(max)}
      </text>
    </g>
  );
}
