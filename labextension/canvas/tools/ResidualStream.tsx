/**
 * The residual stream at the selected position: each component's direct contribution to the
 * metric's logit (embed, every head, every MLP, biases); they add up to the run's logit, which
 * the card prints beside their total. Asked of the kernel again after every run.
 *
 * Two views of the same numbers: per layer a diverging stacked bar (view/ResidualBars: each
 * head, the attention bias and the MLP as segments, with the residual's cumulative contribution
 * and norm beside it) to see where along the depth the logit is written; and, kept below it, the
 * largest components across all layers as a list, to read the few that matter by name when a
 * model has hundreds of heads and their segments are slivers. A click in either selects that
 * node on the graph and centres it there (store.focusNode).
 */
import * as React from 'react';

import { signed } from '../format';
import { placeComponent } from '../residualBars';
import { CanvasSnapshot, CanvasStore, RESIDUAL_KEY, toolAnswer } from '../store';
import { memoCard } from '../view/memo';
import { ResidualBars } from '../view/ResidualBars';
import { selectedPosition } from '../view/Tokens';

/** Components listed (largest contributions first). */
const SHOWN = 12;

function ResidualStreamCard({ store, snap }: { store: CanvasStore; snap: CanvasSnapshot }): React.ReactElement {
  const position = selectedPosition(snap);
  const answer = toolAnswer<'residual_stream'>(snap, RESIDUAL_KEY);
  const on = answer !== null;
  const result = answer?.status === 'ready' ? answer.result : null;
  const at = result ? result.positions.indexOf(position) : -1;
  const rows = result && at >= 0 ? result.components.map((name, i) => ({ name, value: result.contributions[at][i] })) : [];
  const top = [...rows].sort((a, b) => Math.abs(b.value) - Math.abs(a.value)).slice(0, SHOWN);
  const largest = Math.max(1e-9, ...top.map(r => Math.abs(r.value)));
  return (
    <section className="jp-Transpector-card jp-Transpector-residual" aria-label="Residual stream">
      <h3>
        Residual stream <span className="jp-Transpector-dim">what each component adds to the logit at position {position}</span>
      </h3>
      <label className="jp-Transpector-field">
        <input type="checkbox" checked={on} onChange={e => store.watchResidual(e.target.checked ? (snap.view.selectedPosition ?? -1) : null)} />
        decompose (asked again after every run)
      </label>
      {answer?.status === 'error' && <p className="jp-Transpector-errortext">{answer.message}</p>}
      {result && at >= 0 && (
        <>
          <p className="jp-Transpector-dim" data-total={result.total[at]} data-logit={result.logit[at]}>
            {result.labels[at]}: components add up to {result.total[at].toFixed(3)}, the run says {result.logit[at].toFixed(3)}
          </p>
          <ResidualBars result={result} at={at} selected={snap.view.selectedNode} onFocus={node => store.focusNode(node)} />
          <p className="jp-Transpector-dim jp-Transpector-rbars-caption">Largest components</p>
          <ol className="jp-Transpector-topk jp-Transpector-components">
            {top.map(r => (
              <li key={r.name} data-component={r.name} data-value={r.value}>
                <FocusButton store={store} name={r.name} />
                <span className="jp-Transpector-bar" data-sign={r.value < 0 ? 'negative' : 'positive'}>
                  <span style={{ width: `${(Math.abs(r.value) / largest) * 100}%` }} />
                </span>
                <span className="jp-Transpector-prob">{signed(r.value, 2)}</span>
              </li>
            ))}
          </ol>
        </>
      )}
      {result && at < 0 && <p className="jp-Transpector-dim">Asking for position {position}…</p>}
    </section>
  );
}

/** A component's name; a click selects and centres its node (edits have none: no button). */
function FocusButton({ store, name }: { store: CanvasStore; name: string }): React.ReactElement {
  const node = placeComponent(name).node;
  return node ? (
    <button className="jp-Transpector-linkbutton" title={`Select ${node} on the graph`} onClick={() => store.focusNode(node)}>
      {name}
    </button>
  ) : (
    <span className="jp-Transpector-components-name" title="What the interventions wrote into the stream besides the components">
      {name}
    </span>
  );
}

export const ResidualStream = memoCard(ResidualStreamCard, 'tools', 'view', 'run');
