/**
 * The ranked heads' positional profiles (SVG): one row per head, highest score first, one column
 * per offset; each cell as red as its weight is near the largest shown, its value on hover, the
 * head's score at the row's end; the selected head's label in the brand colour. A click on a row
 * picks the head.
 */
import * as React from 'react';

import type { QkPositionsResult } from '../../protocol.generated';
import { divergingColor } from '../patchingGrid';
import { PositionRank, columnWidth, profileRows, rankedHeads } from '../weightsGrid';

const HEADS = 12;
const OFFSETS = 32;
const CELL = 14; // a row's height
const LEFT = 52;
const TOP = 26;
const RIGHT = 60;

export function ProfileHeatmap(props: {
  result: QkPositionsResult;
  rank: PositionRank;
  selected: string | null;
  onPick: (node: string) => void;
}): React.ReactElement {
  const { result, rank, selected, onPick } = props;
  const rows = profileRows(result, rankedHeads(result, rank, HEADS), OFFSETS);
  const col = columnWidth(rows.offsets);
  const width = LEFT + rows.offsets * col + RIGHT;
  return (
    <>
      <div className="jp-Transpector-scroll-x">
      <svg className="jp-Transpector-qkprofiles" width={width} height={TOP + rows.heads.length * CELL + 4} role="img" aria-label="Positional profiles">
        <text className="jp-Transpector-sweep-col" x={LEFT} y={10}>
          offset (query − key) →
        </text>
        {Array.from({ length: rows.offsets }, (_, d) =>
          d % (rows.offsets > 16 ? 4 : 1) === 0 || d === 1 ? (
            <text key={d} className="jp-Transpector-sweep-col" x={LEFT + d * col + col / 2} y={TOP - 4} textAnchor="middle">
              {d}
            </text>
          ) : null
        )}
        <text className="jp-Transpector-sweep-col" x={LEFT + rows.offsets * col + 4} y={TOP - 4}>
          {rank}
        </text>
        {rows.heads.map((h, i) => (
          <g
            key={h.node}
            className="jp-Transpector-qkprofile"
            data-node={h.node}
            data-score={h[rank]}
            data-selected={h.node === selected ? 'true' : undefined}
            onClick={() => onPick(h.node)}
          >
            <text className="jp-Transpector-sweep-row" x={LEFT - 4} y={TOP + i * CELL + CELL * 0.7} textAnchor="end">
              {h.node}
            </text>
            {rows.values[i].map((v, d) => (
              <rect
                key={d}
                className="jp-Transpector-sweep-cell"
                data-offset={d}
                data-value={v}
                data-pickable="true"
                x={LEFT + d * col}
                y={TOP + i * CELL}
                width={col - 1}
                height={CELL - 1}
                fill={divergingColor(rows.max > 0 ? v / rows.max : 0)}
              >
                <title>{`${h.node}, offset ${d}: mean weight ${v.toFixed(3)}`}</title>
              </rect>
            ))}
            <text className="jp-Transpector-sweep-row" x={LEFT + rows.offsets * col + 4} y={TOP + i * CELL + CELL * 0.7}>
              {h[rank].toFixed(3)}
            </text>
          </g>
        ))}
      </svg>
      </div>
      <p className="jp-Transpector-legend jp-Transpector-dim">
        Top {rows.heads.length} heads; colour from 0 to {rows.max.toFixed(3)} (the largest shown); offsets 0–{rows.offsets - 1} of {result.length}. Click a head to select it.
      </p>
    </>
  );
}
