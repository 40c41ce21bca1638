/**
 * The Jacobian lens, the lens card's second kind: the same grid read through the session's
 * fitted lens (TransformerLens's JacobianLens), asked of the kernel after every run. A cell whose
 * top-1 differs from the logit lens's stands out (its tooltip says what the logit lens has); a
 * row with no transport matrix (the embeddings) says so; a click on a cell shows its top-10
 * through the lens. With no lens fitted for the model's weights, the card offers a fit, with
 * progress and Cancel.
 */
import * as React from 'react';

import type { JacobianLensInfo } from '../../protocol.generated';
import { percent, plural, shade, showToken } from '../format';
import { JacobianRow, disagreement, jacobianRows } from '../jacobianGrid';
import { CanvasSnapshot, CanvasStore, toolAnswer } from '../store';
import { selectedPosition } from '../view/Tokens';
import { ProgressRow } from '../view/Progress';
import { TokenProbList } from '../view/TopK';

export type LensKind = 'logit' | 'jacobian';
export const JACOBIAN_KEY = 'jacobian_lens';
export const JACOBIAN_FIT_KEY = 'fit_jacobian_lens';
export const JACOBIAN_CELL = 'jacobian_lens_cell';

interface Cell {
  row: string;
  position: number;
}

/** Logit or Jacobian: which lens the card shows. */
export function LensKindToggle(props: { kind: LensKind; onChange: (kind: LensKind) => void }): React.ReactElement {
  const { kind, onChange } = props;
  return (
    <span className="jp-Transpector-lens-kind" role="group" aria-label="Lens kind">
      <button className="jp-Transpector-button" aria-pressed={kind === 'logit'} onClick={() => onChange('logit')}>
        logit
      </button>
      <button className="jp-Transpector-button" aria-pressed={kind === 'jacobian'} onClick={() => onChange('jacobian')}>
        Jacobian
      </button>
    </span>
  );
}

export function JacobianLensBody({ store, snap }: { store: CanvasStore; snap: CanvasSnapshot }): React.ReactElement {
  const fit = toolAnswer<'fit_jacobian_lens'>(snap, JACOBIAN_FIT_KEY);
  const fitted = fit?.status === 'ready' ? `${fit.result.key}@${fit.result.fitted_at}` : null;
  React.useEffect(() => {
    // Watched while shown, and asked again once a fit has landed.
    store.watchTool(JACOBIAN_KEY, 'logit_lens', { kind: 'jacobian' });
    return () => store.watchTool(JACOBIAN_KEY, 'logit_lens', null);
  }, [store, fitted]);
  const [cell, setCell] = React.useState<Cell | null>(null);
  React.useEffect(() => {
    store.watchTool(JACOBIAN_CELL, 'lens_top_k', cell && { ...cell, k: 10, kind: 'jacobian' });
    return () => store.watchTool(JACOBIAN_CELL, 'lens_top_k', null);
  }, [store, cell, fitted]);
  const pick = React.useCallback((picked: Cell) => setCell(old => (old?.row === picked.row && old.position === picked.position ? null : picked)), []);
  const answer = toolAnswer<'logit_lens'>(snap, JACOBIAN_KEY);
  const lens = answer?.status === 'ready' ? answer.result : null;
  const rows = React.useMemo(() => (lens ? jacobianRows(lens) : null), [lens]);
  const count = rows ? disagreement(rows) : null;
  const fitting = fit?.status === 'loading';
  const problem = fit?.status === 'error' ? fit.message : answer?.status === 'error' ? answer.message : null;
  return (
    <>
      {fitting && (
        <div className="jp-Transpector-row jp-Transpector-jlens-fitting">
          <span>Fitting the Jacobian lens</span>
          <ProgressRow progress={fit.progress} onCancel={id => store.cancel(id)} />
        </div>
      )}
      {!fitting && problem && <p className="jp-Transpector-errortext">{problem}</p>}
      {!fitting && !lens && answer?.status !== 'loading' && (
        <div className="jp-Transpector-row">
          <button className="jp-Transpector-button" onClick={() => store.runTool(JACOBIAN_FIT_KEY, 'fit_jacobian_lens', {})}>
            Fit
          </button>
          <span className="jp-Transpector-dim">
            TransformerLens's JacobianLens on 4 windows of 32 tokens of the session's dataset (session.fit_jacobian_lens's defaults;
            minutes on one CPU thread for SmolLM2); cached for these weights
          </span>
        </div>
      )}
      {answer?.status === 'loading' && !lens && <p className="jp-Transpector-dim">Reading positions through the Jacobian lens…</p>}
      {lens?.jacobian && <FitLine info={lens.jacobian} />}
      {count && (
        <p className="jp-Transpector-dim jp-Transpector-legend">
          <span className="jp-Transpector-lens-key" data-differs="logit" /> top-1 differs from the logit lens (hover for it):{' '}
          <strong className="jp-Transpector-jlens-count">{count.differ}</strong> of {count.cells} cells
        </p>
      )}
      {lens && rows && (
        <JacobianGrid rows={rows} positions={lens.positions} tokens={snap.run?.tokens ?? []} selected={selectedPosition(snap)} cell={cell} onPick={pick} />
      )}
      {cell && <CellTopK snap={snap} cell={cell} onClose={() => setCell(null)} />}
    </>
  );
}

function FitLine({ info }: { info: JacobianLensInfo }): React.ReactElement {
  return (
    <p className="jp-Transpector-dim jp-Transpector-legend" title={info.path}>
      Fitted on {plural(info.n_prompts, 'prompt')} of {info.max_seq_len} tokens of {info.dataset.name} ({info.fit_seconds.toFixed(1)} s, {info.fitted_at.replace('T', ' ').replace('+00:00', ' UTC')})
    </p>
  );
}

function CellTopK(props: { snap: CanvasSnapshot; cell: Cell; onClose: () => void }): React.ReactElement {
  const { snap, cell, onClose } = props;
  const data = toolAnswer<'lens_top_k'>(snap, JACOBIAN_CELL);
  return (
    <div className="jp-Transpector-lens-topk" aria-label="Jacobian lens cell top-k" data-layer={cell.row} data-position={cell.position}>
      <div className="jp-Transpector-row">
        <strong>
          {cell.row} at position {cell.position}, through the Jacobian lens
        </strong>
        <span className="jp-Transpector-spacer" />
        <button className="jp-Transpector-button" aria-label="Close the Jacobian lens cell" onClick={onClose}>
          ×
        </button>
      </div>
      {!data || data.status === 'loading' ? (
        <p className="jp-Transpector-dim">Reading {cell.row} through the Jacobian lens…</p>
      ) : data.status === 'error' ? (
        <p className="jp-Transpector-errortext">{data.message}</p>
      ) : (
        <TokenProbList rows={data.result.top_k} itemClass="jp-Transpector-lens-item" />
      )}
    </div>
  );
}

interface GridProps {
  rows: JacobianRow[];
  positions: number[];
  tokens: string[];
  selected: number;
  cell: Cell | null;
  onPick: (cell: Cell) => void;
}

const JacobianGrid = React.memo(function JacobianGrid({ rows, positions, tokens, selected, cell: picked, onPick }: GridProps): React.ReactElement {
  return (
    <div className="jp-Transpector-scroll-x">
      <table className="jp-Transpector-lens-grid" aria-label="Jacobian lens grid">
        <thead>
          <tr>
            <th />
            {positions.map(p => (
              <th key={p} scope="col" aria-selected={p === selected}>
                {showToken(tokens[p] ?? '')}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {rows.map(({ row, cells }) => (
            <tr key={row} data-no-transport={cells === null ? 'true' : undefined}>
              <th scope="row">{row}</th>
              {cells === null ? (
                <td colSpan={positions.length} className="jp-Transpector-jlens-none">
                  {row === 'L0.resid_pre' ? 'no transport matrix: the embeddings are no block’s output' : 'no transport matrix: not among the fitted layers'}
                </td>
              ) : (
                cells.map(cell => (
                  <td key={cell.position} aria-selected={cell.position === selected}>
                    <button
                      className="jp-Transpector-lens-cell"
                      aria-pressed={picked?.row === row && picked.position === cell.position}
                      onClick={() => onPick({ row, position: cell.position })}
                      data-layer={row}
                      data-position={cell.position}
                      data-token-id={cell.tokenId}
                      data-differs={cell.logitToken === null ? undefined : 'logit'}
                      title={`${row}, position ${cell.position}: ${JSON.stringify(cell.token)} ${percent(cell.prob)}${
                        cell.logitToken === null ? '' : ` (logit lens: ${JSON.stringify(cell.logitToken)})`
                      }`}
                      style={{ ['--tp-shade' as string]: `${shade(cell.prob, 5)}%` }}
                    >
                      {showToken(cell.token)}
                    </button>
                  </td>
                ))
              )}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
});
