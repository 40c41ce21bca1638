/**
 * Activation patching sweep: on a clean/corrupt pair of the session, run the corrupt prompt with
 * one activation from the clean run per cell and score it by the session's metric. The heatmap
 * (layers x positions, or layers x heads) is on a diverging scale: 0 is the corrupt run, 1 the
 * clean one. Hovering a cell gives its values; clicking it adds that very patch to the graph.
 */
import * as React from 'react';

import type { PatchingResult, PatchingSweep } from '../../protocol.generated';
import { SweepGrid, divergingColor, sweepGrid, sweepTints } from '../patchingGrid';
import { CanvasSnapshot, CanvasStore, PATCHING_KEY, toolAnswer } from '../store';
import { memoCard } from '../view/memo';
import { ProgressRow } from '../view/Progress';

const SWEEPS: { sweep: PatchingSweep; label: string }[] = [
  { sweep: 'resid_pre', label: 'residual (resid_pre) × position' },
  { sweep: 'attn_out', label: 'attention output × position' },
  { sweep: 'mlp_out', label: 'MLP output × position' },
  { sweep: 'head_out', label: 'head output (all positions)' },
  { sweep: 'head_out_by_pos', label: 'head output × position' },
  { sweep: 'head_pattern', label: 'head pattern' },
  { sweep: 'q', label: 'head query' },
  { sweep: 'k', label: 'head key' },
  { sweep: 'v', label: 'head value' }
];

function ActivationPatchingCard({ store, snap }: { store: CanvasStore; snap: CanvasSnapshot }): React.ReactElement {
  const pairs = snap.state?.pairs ?? [];
  const [sweep, setSweep] = React.useState<PatchingSweep>('resid_pre');
  const [pair, setPair] = React.useState(0);
  const answer = toolAnswer<'activation_patching'>(snap, PATCHING_KEY);
  const running = answer?.status === 'loading';
  return (
    <section className="jp-Transpector-card jp-Transpector-patching" aria-label="Activation patching">
      <h3>
        Activation patching <span className="jp-Transpector-dim">corrupt run, one clean activation per cell</span>
      </h3>
      {pairs.length === 0 ? (
        <p className="jp-Transpector-dim">Add a clean/corrupt pair (Prompt pairs) to sweep it.</p>
      ) : (
        <div className="jp-Transpector-row">
          <select aria-label="Sweep" value={sweep} onChange={e => setSweep(e.target.value as PatchingSweep)}>
            {SWEEPS.map(s => (
              <option key={s.sweep} value={s.sweep}>
                {s.label}
              </option>
            ))}
          </select>
          <select aria-label="Pair" value={Math.min(pair, pairs.length - 1)} onChange={e => setPair(Number(e.target.value))}>
            {pairs.map((p, i) => (
              <option key={i} value={i}>
                pair {i + 1}: {p.corrupt.slice(0, 40)}
              </option>
            ))}
          </select>
          <button className="jp-Transpector-button" disabled={running} onClick={() => store.runPatching({ sweep, pair: Math.min(pair, pairs.length - 1) })}>
            Sweep
          </button>
          {running && <ProgressRow progress={answer.progress} onCancel={id => store.cancel(id)} />}
        </div>
      )}
      {answer?.status === 'error' && <p className="jp-Transpector-errortext">{answer.message}</p>}
      {answer?.status === 'ready' && <SweepResult store={store} result={answer.result} tinted={snap.view.tintBySweep} />}
    </section>
  );
}

function SweepResult(props: { store: CanvasStore; result: PatchingResult; tinted: boolean }): React.ReactElement {
  const { store, result, tinted } = props;
  const tintable = sweepTints(result).size > 0;
  const positions = result.positions ?? [];
  const sliced = result.axes.length === 3;
  const [slice, setSlice] = React.useState(Math.max(positions.length - 1, 0));
  const grid = sweepGrid(result, Math.min(slice, Math.max(positions.length - 1, 0)));
  return (
    <div className="jp-Transpector-sweep" data-sweep={result.sweep} data-shape={result.shape.join('x')}>
      <p className="jp-Transpector-dim">
        {result.metric_label}: corrupt {result.corrupt_value.toFixed(3)}, clean {result.clean_value.toFixed(3)} · {result.forwards} batched
        forward{result.forwards === 1 ? '' : 's'}
        {result.note ? ` · ${result.note}` : ''}
      </p>
      {sliced && (
        <label className="jp-Transpector-field">
          position
          <select aria-label="Position" value={slice} onChange={e => setSlice(Number(e.target.value))}>
            {positions.map((p, i) => (
              <option key={p} value={i}>
                {p}: {result.corrupt_tokens[p]}
              </option>
            ))}
          </select>
        </label>
      )}
      <SweepHeatmap grid={grid} onPick={(r, c) => store.patchCell(result, grid.cell(r, c))} />
      <label className="jp-Transpector-field">
        <input type="checkbox" checked={tinted} disabled={!tintable} onChange={e => store.setTintBySweep(e.target.checked)} />
        Tint the graph by these scores{tintable ? '' : ' (a node patch sweep only)'}
      </label>
      <p className="jp-Transpector-legend jp-Transpector-dim">
        <span className="jp-Transpector-scale" aria-hidden="true" /> −1 · 0 = corrupt · 1 = clean; click a cell to add its patch
      </p>
    </div>
  );
}

const CELL = 16;
const LEFT = 34;
const TOP = 44;

function SweepHeatmap({ grid, onPick }: { grid: SweepGrid; onPick: (r: number, c: number) => void }): React.ReactElement {
  const { rows, cols } = grid;
  return (
    <div className="jp-Transpector-scroll-x">
      <svg width={LEFT + cols.length * CELL + 4} height={TOP + rows.length * CELL + 4} role="img" aria-label="Patching sweep heatmap">
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
                  onClick={() => onPick(r, c)}
                >
                  <title>{`L${layer}, ${col.full}: ${value === null ? 'n/a' : value.toFixed(3)} (metric ${grid.raw(r, c).toFixed(3)})`}</title>
                </rect>
              );
            })}
          </g>
        ))}
      </svg>
    </div>
  );
}

export const ActivationPatching = memoCard(ActivationPatchingCard, 'state', 'tools', 'view');
