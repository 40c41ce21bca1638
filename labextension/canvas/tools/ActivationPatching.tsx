/**
 * Activation patching sweep: on a clean/corrupt pair of the session, run the corrupt prompt with
 * one activation from the clean run per cell and score it by the session's metric. The heatmap
 * (layers x positions, or layers x heads) is on a diverging scale: 0 is the corrupt run, 1 the
 * clean one. Hovering a cell gives its values; clicking it adds that very patch to the graph.
 */
import * as React from 'react';

import type { AttributionResult, PatchingResult, PatchingSweep } from '../../protocol.generated';
import { sweepGrid, sweepTints } from '../patchingGrid';
import { ATTRIBUTION_KEY, CanvasSnapshot, CanvasStore, PATCHING_KEY, toolAnswer } from '../store';
import { memoCard } from '../view/memo';
import { ProgressRow } from '../view/Progress';
import { SweepHeatmap } from '../view/SweepHeatmap';

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
  const [estimate, setEstimate] = React.useState(false);
  const answer = toolAnswer<'activation_patching'>(snap, PATCHING_KEY);
  const estimated = toolAnswer<'attribution_patching'>(snap, ATTRIBUTION_KEY);
  const shown = estimate ? estimated : answer;
  const running = shown?.status === 'loading';
  const which = Math.min(pair, pairs.length - 1);
  const start = (): void =>
    estimate ? store.runTool(ATTRIBUTION_KEY, 'attribution_patching', { sweep, pair: which, compare: true }) : store.runPatching({ sweep, pair: which });
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
          <label className="jp-Transpector-field" title="Also estimate the sweep from one backward pass (attribution patching), beside the real one">
            <input type="checkbox" checked={estimate} onChange={e => setEstimate(e.target.checked)} />
            with attribution estimate
          </label>
          <button className="jp-Transpector-button" disabled={running} onClick={start}>
            Sweep
          </button>
          {running && <ProgressRow progress={shown.progress} onCancel={id => store.cancel(id)} />}
        </div>
      )}
      {shown?.status === 'error' && <p className="jp-Transpector-errortext">{shown.message}</p>}
      {!estimate && answer?.status === 'ready' && <SweepResult store={store} result={answer.result} tinted={snap.view.tintBySweep} />}
      {estimate && estimated?.status === 'ready' && <Comparison store={store} result={estimated.result} />}
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

/** The attribution estimate beside the real sweep (position slices not offered: the last). */
function Comparison({ store, result }: { store: CanvasStore; result: AttributionResult }): React.ReactElement {
  const real = result.real;
  const last = Math.max((result.positions ?? []).length - 1, 0);
  return (
    <div className="jp-Transpector-sweep jp-Transpector-comparison" data-sweep={result.sweep} data-correlation={result.correlation ?? ''}>
      <p>
        Pearson r between estimate and real sweep: <strong>{result.correlation === null || result.correlation === undefined ? 'n/a' : result.correlation.toFixed(3)}</strong>
        <span className="jp-Transpector-dim"> · {result.metric_label}{result.note ? ` · ${result.note}` : ''}</span>
      </p>
      <div className="jp-Transpector-trace-grids">
        {real && (
          <figure data-kind="real">
            <figcaption>real (click a cell to add its patch)</figcaption>
            <SweepHeatmap grid={sweepGrid(real, last)} onPick={(r, c) => store.patchCell(real, sweepGrid(real, last).cell(r, c))} />
          </figure>
        )}
        <figure data-kind="estimate">
          <figcaption>attribution estimate</figcaption>
          <SweepHeatmap grid={sweepGrid(result, last)} label="Attribution estimate heatmap" />
        </figure>
      </div>
    </div>
  );
}

export const ActivationPatching = memoCard(ActivationPatchingCard, 'state', 'tools', 'view');
