/**
 * OV copying (weights only, no prompt): each head's copying score, the eigenvalue score of its
 * OV circuit from tokens to logits (1: it raises the logit of the token it attends to, -1: it
 * lowers it), as a layers x heads heatmap. With a token, each head's top tokens for it: a click
 * on a head selects it (and brings it into sight) on the graph and lists its top tokens here.
 */
import * as React from 'react';

import type { OvCopyingResult } from '../../protocol.generated';
import { quoteToken, showToken } from '../format';
import { CanvasSnapshot, CanvasStore, toolAnswer } from '../store';
import { figure, headGrid, headNode, headOf } from '../weightsGrid';
import { memoCard } from '../view/memo';
import { ProgressRow } from '../view/Progress';
import { SweepHeatmap } from '../view/SweepHeatmap';

const KEY = 'ov_copying';
const TOP = 8;

function OvCopyingCard({ store, snap }: { store: CanvasStore; snap: CanvasSnapshot }): React.ReactElement {
  const [token, setToken] = React.useState('');
  const answer = toolAnswer<'ov_copying'>(snap, KEY);
  const running = answer?.status === 'loading';
  const score = (): void => store.runTool(KEY, 'ov_copying', { token: token === '' ? null : token, k: TOP });
  return (
    <section className="jp-Transpector-card jp-Transpector-ovcopying" aria-label="OV copying">
      <h3>
        OV copying <span className="jp-Transpector-dim">from the weights: does a head raise the logit of the token it reads?</span>
      </h3>
      <div className="jp-Transpector-row">
        <label className="jp-Transpector-field">
          token
          <input
            aria-label="Token"
            value={token}
            placeholder="e.g. ' Paris' (optional)"
            title="One token, with its leading space if it has one: each head's top tokens for it"
            onChange={e => setToken(e.target.value)}
            onKeyDown={e => e.key === 'Enter' && !running && score()}
          />
        </label>
        <button className="jp-Transpector-button" disabled={running} onClick={score}>
          Score
        </button>
        {running && <ProgressRow progress={answer.progress} onCancel={id => store.cancel(id)} />}
      </div>
      {answer?.status === 'error' && <p className="jp-Transpector-errortext">{answer.message}</p>}
      {answer?.status === 'ready' && <Copying store={store} result={answer.result} selected={snap.view.selectedNode} />}
    </section>
  );
}

function Copying(props: { store: CanvasStore; result: OvCopyingResult; selected: string | null }): React.ReactElement {
  const { store, result, selected } = props;
  const grid = headGrid(result.copying);
  const head = headOf(selected);
  const picked = head && result.copying[head.layer]?.[head.head] !== undefined ? head : null;
  return (
    <div className="jp-Transpector-sweep" data-shape={result.shape.join('x')} data-token={result.token ?? ''}>
      <SweepHeatmap grid={grid} label="OV copying heatmap" rawLabel="copying score" onPick={(r, c) => store.focusNode(headNode(grid.rows[r], c))} />
      <p className="jp-Transpector-legend jp-Transpector-dim">
        <span className="jp-Transpector-scale" aria-hidden="true" /> −1 lowers · 0 · 1 copies: sum(λ) / sum(|λ|) of W_E W_OV W_U; click a head to select it
      </p>
      {picked === null ? (
        <p className="jp-Transpector-dim">Select a head (click a cell) to see its score{result.top ? ' and its top tokens' : ''}.</p>
      ) : (
        <HeadTokens result={result} layer={picked.layer} head={picked.head} />
      )}
    </div>
  );
}

function HeadTokens({ result, layer, head }: { result: OvCopyingResult; layer: number; head: number }): React.ReactElement {
  const tokens = result.top?.[layer]?.[head] ?? null;
  return (
    <div className="jp-Transpector-ovtokens" data-node={headNode(layer, head)} data-copying={result.copying[layer][head]}>
      <p>
        <strong>{headNode(layer, head)}</strong> copying score {result.copying[layer][head].toFixed(3)}
        {tokens === null && <span className="jp-Transpector-dim"> · give a token and Score to list its top tokens</span>}
      </p>
      {tokens !== null && (
        <>
          <p className="jp-Transpector-dim">{quoteToken(result.token ?? '')} through its OV circuit raises most:</p>
          <ol className="jp-Transpector-ovtoken-list">
            {tokens.map(t => (
              <li key={t.id} data-id={t.id} data-logit={t.logit}>
                <code title={quoteToken(t.token)}>{showToken(t.token)}</code> <span className="jp-Transpector-dim">{figure(t.logit)}</span>
              </li>
            ))}
          </ol>
        </>
      )}
    </div>
  );
}

export const OvCopying = memoCard(OvCopyingCard, 'tools', 'view');
