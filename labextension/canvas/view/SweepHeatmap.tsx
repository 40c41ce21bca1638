/**
 * A sweep's heatmap (SVG): layers down, positions or heads across, each cell on the diverging
 * scale of patchingGrid.ts, its values on hover; a click picks the cell when the card allows it.
 */
import * as React from 'react';

import { SweepGrid, divergingColor } from '../patchingGrid';

const CELL = 16;
const LEFT = 34;
const TOP = 44;

export function SweepHeatmap(props: {
  grid: SweepGrid;
  onPick?: (r: number, c: number) => void;
  label?: string;
  /** What a cell's raw value is, for its tooltip. */
  rawLabel?: string;
}): React.ReactElement {
  const { grid, onPick, label = 'Patching sweep heatmap', rawLabel = 'metric' } = props;
  const { rows, cols } = grid;
  return (
    <div className="jp-Transpector-scroll-x">
      <svg width={LEFT + cols.length * CELL + 4} height={TOP + rows.length * CELL + 4} role="img" aria-label={label}>
        {cols.map((col, c) => (
          <text key={c} className="jp-Transpector-sweep-col" transform={`translate(${LEFT + c * CELL + CELL / 2}, ${TOP - 4}) rotate(-60)`}>
            <title>{col.full}</title>
            {col.text}
          </text>
        ))}
        {rows.map((layer, r) => (
          <g key={layer}>
            <text className="jp-Transpector-sweep-row" x={LEFT - 4} y={TOP + r * CELL + CELL * 0.7} textAnchor="end">
              L{layer}
            </text>
            {cols.map((col, c) => {
              const value = grid.value(r, c);
              return (
                <rect
                  key={c}
                  className="jp-Transpector-sweep-cell"
                  data-layer={layer}
                  data-col={c}
                  data-value={value ?? ''}
                  data-raw={grid.raw(r, c)}
                  x={LEFT + c * CELL}
                  y={TOP + r * CELL}
                  width={CELL - 1}
                  height={CELL - 1}
                  fill={divergingColor(value)}
                  data-pickable={onPick ? 'true' : undefined}
                  onClick={() => onPick?.(r, c)}
                >
                  <title>{`L${layer}, ${col.full}: ${value === null ? 'n/a' : value.toFixed(3)} (${rawLabel} ${grid.raw(r, c).toFixed(3)})`}</title>
                </rect>
              );
            })}
          </g>
        ))}
      </svg>
    </div>
  );
}
