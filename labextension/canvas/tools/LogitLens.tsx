/**
 * Logit lens: layers x positions, the top-1 token of each, shaded by its probability. It arrives
 * after each run's outputs, for the last LENS_WINDOW positions; on a longer prompt the card pages
 * to earlier windows (asked of the kernel). A column header picks the position; a cell shows
 * that layer's full top-k there (asked of the kernel). With interventions, a cell whose top-1
 * differs from the clean run's stands out, and its tooltip says what the clean run had. A toggle
 * switches the card to the Jacobian lens (JacobianLens.tsx).
 */
import * as React from 'react';

import type { LogitLens as LogitLensData } from '../../protocol.generated';
import { LENS_WINDOW } from '../../protocol.generated';
import { percent, shade, showToken } from '../format';
import { CanvasSnapshot, CanvasStore, LENS_CELL, LENS_WINDOW_KEY, toolAnswer } from '../store';
import { selectedPosition } from '../view/Tokens';
import { TokenProbList } from '../view/TopK';
import { memoCard } from '../view/memo';
import { useScrolledToEnd } from '../view/scrolledToEnd';
import { JacobianLensBody, LensKind, LensKindToggle } from './JacobianLens';

function LogitLensCard({ store, snap }: { store: CanvasStore; snap: CanvasSnapshot }): React.ReactElement | null {
  const [kind, setKind] = React.useState<LensKind>('logit');
  const paged = snap.view.lensStart !== null;
  const answer = toolAnswer<'logit_lens'>(snap, paged ? LENS_WINDOW_KEY : 'logit_lens');
  const run = snap.run;
  if (!answer || !run) {
    return null;
  }
  if (kind === 'jacobian') {
    return (
      <section className="jp-Transpector-card jp-Transpector-lens" aria-label="Jacobian lens">
        <h3>
          Jacobian lens <LensKindToggle kind={kind} onChange={setKind} />{' '}
          <span className="jp-Transpector-dim">each row through its fitted transport matrix, then the unembedding</span>
        </h3>
        <JacobianLensBody store={store} snap={snap} />
      </section>
    );
  }
  const cell = snap.view.lensCell;
  const lens = answer.status === 'ready' ? answer.result : null;
  return (
    <section className="jp-Transpector-card jp-Transpector-lens" aria-label="Logit lens" data-run-version={answer.runVersion}>
      <h3>
        Logit lens <LensKindToggle kind={kind} onChange={setKind} /> <span className="jp-Transpector-dim">top-1 per layer and position; click a cell for its top-k</span>
      </h3>
      {lens?.clean_token_ids && (
        <p className="jp-Transpector-dim jp-Transpector-legend">
          <span className="jp-Transpector-lens-key" data-changed="token" /> top-1 differs from the clean run (hover for it)
        </p>
      )}
      {lens && <LensPager store={store} lens={lens} paged={paged} />}
      {answer.status === 'error' && <p className="jp-Transpector-errortext">{answer.message}</p>}
      {answer.status === 'loading' && <p className="jp-Transpector-dim">Reading positions through the unembedding…</p>}
      {lens && <LensGrid store={store} tokens={run.tokens} lens={lens} selected={selectedPosition(snap)} cell={cell} />}
      {cell && <LensCell snap={snap} row={cell.row} position={cell.position} onClose={() => store.selectLensCell(null)} />}
    </section>
  );
}

/** Which positions the grid shows, and buttons to page through a prompt longer than a window. */
function LensPager(props: { store: CanvasStore; lens: LogitLensData; paged: boolean }): React.ReactElement | null {
  const { store, lens, paged } = props;
  const first = lens.positions[0] ?? 0;
  const last = lens.positions[lens.positions.length - 1] ?? 0;
  if (lens.n_tokens <= LENS_WINDOW && !paged) {
    return null;
  }
  return (
    <div className="jp-Transpector-row jp-Transpector-lens-pager">
      <span className="jp-Transpector-dim">
        positions {first}–{last} of {lens.n_tokens}
      </span>
      <button className="jp-Transpector-button" disabled={first === 0} onClick={() => store.setLensStart(Math.max(0, first - LENS_WINDOW))}>
        ◀ earlier
      </button>
      <button
        className="jp-Transpector-button"
        disabled={!paged}
        onClick={() => store.setLensStart(last + 1 + LENS_WINDOW >= lens.n_tokens ? null : last + 1)}
      >
        later ▶
      </button>
      <button className="jp-Transpector-button" disabled={!paged} onClick={() => store.setLensStart(null)}>
        last
      </button>
    </div>
  );
}

interface LensGridProps {
  store: CanvasStore;
  tokens: string[];
  lens: LogitLensData;
  selected: number;
  cell: { row: string; position: number } | null;
}

/** The grid itself, memoized: a render for anything else leaves it alone. */
const LensGrid = React.memo(function LensGrid({ store, tokens, lens, selected, cell }: LensGridProps): React.ReactElement {
  // A new window of positions opens at its last position, where the prediction is.
  const scroller = useScrolledToEnd(`${lens.positions[0]}-${lens.positions.length}`);
  return (
    <div className="jp-Transpector-scroll-x" ref={scroller}>
      <table className="jp-Transpector-lens-grid">
        <thead>
          <tr>
            <th />
            {lens.positions.map(p => (
              <th key={p} scope="col" aria-selected={p === selected}>
                <button className="jp-Transpector-linkbutton" onClick={() => store.selectPosition(p === tokens.length - 1 ? null : p)}>
                  {showToken(tokens[p] ?? '')}
                </button>
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {lens.layers.map((row, r) => (
            <tr key={row}>
              <th scope="row">{row}</th>
              {lens.tokens[r].map((token, i) => {
                const p = lens.positions[i];
                const prob = lens.probs[r][i];
                const picked = cell?.row === row && cell.position === p;
                const cleanId = lens.clean_token_ids?.[r]?.[i];
                const changed = cleanId !== undefined && cleanId !== lens.token_ids[r][i];
                return (
                  <td key={p} aria-selected={p === selected}>
                    <button
                      className="jp-Transpector-lens-cell"
                      data-layer={row}
                      data-position={p}
                      data-prob={prob}
                      data-token={JSON.stringify(token)}
                      data-changed={changed ? 'token' : undefined}
                      data-clean={cleanId !== undefined ? `${JSON.stringify(lens.clean_tokens?.[r]?.[i] ?? '')} ${percent(lens.clean_probs?.[r]?.[i] ?? 0)}` : undefined}
                      aria-pressed={picked}
                      onPointerEnter={describeOnHover}
                      style={{ ['--tp-shade' as string]: `${shade(prob, SHADE_STEP)}%` }}
                      onClick={() => store.selectLensCell(picked ? null : { row, position: p })}
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
  const { layer, position, prob, token, clean } = cell.dataset;
  const before = clean === undefined ? '' : ` (clean run: ${clean})`;
  cell.title = `${layer}, position ${position}: ${token} ${percent(Number(prob))}${before}`;
}

function LensCell(props: { snap: CanvasSnapshot; row: string; position: number; onClose: () => void }): React.ReactElement {
  const { snap, row, position, onClose } = props;
  const data = toolAnswer<'lens_top_k'>(snap, LENS_CELL);
  const token = snap.run?.tokens[position];
  // The cell's top-k opens below a tall grid: bring it into view when a cell is picked.
  const box = React.useRef<HTMLDivElement>(null);
  React.useEffect(() => {
    box.current?.scrollIntoView({ block: 'nearest' });
  }, [row, position]);
  return (
    <div className="jp-Transpector-lens-topk" aria-label="Lens cell top-k" data-layer={row} data-position={position} ref={box}>
      <div className="jp-Transpector-row">
        <strong>
          {row} at position {position}
        </strong>
        <span className="jp-Transpector-dim">{token !== undefined ? JSON.stringify(token) : 'no such position now'}</span>
        <span className="jp-Transpector-spacer" />
        <button className="jp-Transpector-button" aria-label="Close the lens cell" onClick={onClose}>
          ×
        </button>
      </div>
      {!data || data.status === 'loading' ? (
        <p className="jp-Transpector-dim">Reading {row} through the unembedding…</p>
      ) : data.status === 'error' ? (
        <p className="jp-Transpector-errortext">{data.message}</p>
      ) : (
        <TokenProbList rows={data.result.top_k} itemClass="jp-Transpector-lens-item" />
      )}
    </div>
  );
}

export const LogitLens = memoCard(LogitLensCard, 'run', 'view', 'tools');
