/**
 * Logit lens: layers x positions, the top-1 token of each, shaded by its probability. A column
 * header picks the position; a cell shows that layer's full top-k there (asked of the kernel).
 */
import * as React from 'react';

import type { LogitLens as LogitLensData, RunSummary } from '../../protocol.generated';
import { percent, shade, showToken } from '../format';
import { CanvasSnapshot, CanvasStore } from '../store';
import { selectedPosition } from './Tokens';
import { TokenProbList } from './TopK';
import { memoCard, useAfterPaint } from './memo';

function LogitLensCard({ store, snap }: { store: CanvasStore; snap: CanvasSnapshot }): React.ReactElement | null {
  // The grid (layers x positions buttons) is the costliest part of a run to draw: it follows a
  // frame after the outputs, so a toggle's top-k shows as soon as it can.
  const run = useAfterPaint(snap.run);
  if (!run?.logit_lens) {
    return null;
  }
  const cell = snap.view.lensCell;
  return (
    <section className="jp-Transpector-card jp-Transpector-lens" aria-label="Logit lens" data-run-version={run.version}>
      <h3>
        Logit lens <span className="jp-Transpector-dim">top-1 per layer and position; click a cell for its top-k</span>
      </h3>
      <LensGrid store={store} run={run} lens={run.logit_lens} selected={selectedPosition(snap)} cell={cell} />
      {cell && <LensCell snap={snap} layer={cell.layer} position={cell.position} onClose={() => store.selectLensCell(null)} />}
    </section>
  );
}

interface LensGridProps {
  store: CanvasStore;
  run: RunSummary;
  lens: LogitLensData;
  selected: number;
  cell: { layer: string; position: number } | null;
}

/** The grid itself, memoized: the render that shows a new run's outputs (with the previous run
 * here) leaves it alone. */
const LensGrid = React.memo(function LensGrid({ store, run, lens, selected, cell }: LensGridProps): React.ReactElement {
  return (
    <div className="jp-Transpector-scroll-x">
      <table className="jp-Transpector-lens-grid">
        <thead>
          <tr>
            <th />
            {run.tokens.map((token, p) => (
              <th key={p} scope="col" aria-selected={p === selected}>
                <button
                  className="jp-Transpector-linkbutton"
                  onClick={() => store.selectPosition(p === run.tokens.length - 1 ? null : p)}
                >
                  {showToken(token)}
                </button>
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {lens.layers.map((layer, r) => (
            <tr key={layer}>
              <th scope="row">{layer}</th>
              {lens.tokens[r].map((token, p) => {
                const prob = lens.probs[r][p];
                const picked = cell?.layer === layer && cell.position === p;
                return (
                  <td key={p} aria-selected={p === selected}>
                    <button
                      className="jp-Transpector-lens-cell"
                      data-layer={layer}
                      data-position={p}
                      data-prob={prob}
                      data-token={JSON.stringify(token)}
                      aria-pressed={picked}
                      onPointerEnter={describeOnHover}
                      style={{ ['--tp-shade' as string]: `${shade(prob, SHADE_STEP)}%` }}
                      onClick={() => store.selectLensCell(picked ? null : { layer, position: p })}
                    >
                      {showToken(token)}
                    </button>
                  </td>
                );
              })}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
});

/** Shading in 5% steps: a run that moves probabilities a little restyles few cells. */
const SHADE_STEP = 5;

/** A cell's tooltip, written when the pointer enters it rather than on every run (a title
 * attribute on every cell made each run restyle the whole grid). */
function describeOnHover(event: React.PointerEvent<HTMLButtonElement>): void {
  const cell = event.currentTarget;
  const { layer, position, prob, token } = cell.dataset;
  cell.title = `${layer}, position ${position}: ${token} ${percent(Number(prob))}`;
}

function LensCell(props: { snap: CanvasSnapshot; layer: string; position: number; onClose: () => void }): React.ReactElement {
  const { snap, layer, position, onClose } = props;
  const data = snap.lensCell;
  const token = snap.run?.tokens[position];
  return (
    <div className="jp-Transpector-lens-topk" aria-label="Lens cell top-k" data-layer={layer} data-position={position}>
      <div className="jp-Transpector-row">
        <strong>
          {layer} at position {position}
        </strong>
        <span className="jp-Transpector-dim">{token !== undefined ? JSON.stringify(token) : 'no such position now'}</span>
        <span className="jp-Transpector-spacer" />
        <button className="jp-Transpector-button" aria-label="Close the lens cell" onClick={onClose}>
          ×
        </button>
      </div>
      {!data || data.status === 'loading' ? (
        <p className="jp-Transpector-dim">Reading {layer} through the unembedding…</p>
      ) : data.status === 'error' ? (
        <p className="jp-Transpector-errortext">{data.message}</p>
      ) : (
        <TokenProbList rows={data.topK} itemClass="jp-Transpector-lens-item" />
      )}
    </div>
  );
}

export const LogitLens = memoCard(LogitLensCard, 'run', 'view', 'lensCell');
