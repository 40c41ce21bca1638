/**
 * Edge attribution patching on a clean/corrupt pair of the session: every edge between the
 * embeddings, heads, MLPs and the logits scored by the metric change its patch would bring
 * (first order, one backward). The edges whose |score| passes the slider are drawn on the graph
 * (a negative one in its own colour), and "Keep only these edges" runs the circuit: the clean
 * prompt with every other edge patched to its corrupt value, scored by the same metric.
 */
import * as React from 'react';

import type { CircuitResult, EdgeAttributionResult } from '../../protocol.generated';
import { CanvasSnapshot, CanvasStore, CIRCUIT_KEY, EDGES_KEY, toolAnswer } from '../store';
import { EdgeList, edgeScore } from '../view/EdgeList';
import { memoCard } from '../view/memo';
import { ProgressRow } from '../view/Progress';

/** How many edges the kernel sends, largest |score| first: the slider picks among them. */
const MAX_EDGES = 500;
/** The slider starts where this many edges pass. */
const FIRST_SHOWN = 20;

function EdgeAttributionCard({ store, snap }: { store: CanvasStore; snap: CanvasSnapshot }): React.ReactElement {
  const pairs = snap.state?.pairs ?? [];
  const [pair, setPair] = React.useState(0);
  const answer = toolAnswer<'edge_attribution'>(snap, EDGES_KEY);
  const running = answer?.status === 'loading';
  const which = Math.min(pair, pairs.length - 1);
  return (
    <section className="jp-Transpector-card jp-Transpector-edges-card" aria-label="Edge attribution">
      <h3>
        Edge attribution <span className="jp-Transpector-dim">which edges carry the pair's difference, estimated from one backward pass</span>
      </h3>
      {pairs.length === 0 ? (
        <p className="jp-Transpector-dim">Add a clean/corrupt pair (Prompt pairs) to score its edges.</p>
      ) : (
        <div className="jp-Transpector-row">
          <select aria-label="Edge pair" value={which} onChange={e => setPair(Number(e.target.value))}>
            {pairs.map((p, i) => (
              <option key={i} value={i}>
                pair {i + 1}: {p.corrupt.slice(0, 40)}
              </option>
            ))}
          </select>
          <button className="jp-Transpector-button" disabled={running} onClick={() => store.runTool(EDGES_KEY, 'edge_attribution', { pair: which, max_edges: MAX_EDGES })}>
            Score edges
          </button>
          {running && <ProgressRow progress={answer.progress} onCancel={id => store.cancel(id)} />}
        </div>
      )}
      {answer?.status === 'error' && <p className="jp-Transpector-errortext">{answer.message}</p>}
      {answer?.status === 'ready' && <Circuit store={store} snap={snap} result={answer.result} pair={which} />}
    </section>
  );
}

function Circuit(props: { store: CanvasStore; snap: CanvasSnapshot; result: EdgeAttributionResult; pair: number }): React.ReactElement {
  const { store, snap, result, pair } = props;
  const sizes = result.edges.map(e => Math.abs(e.score));
  const high = Math.max(...sizes, 0);
  const threshold = snap.view.circuitThreshold;
  const shown = threshold ?? sizes[Math.min(FIRST_SHOWN, sizes.length) - 1] ?? 0;
  const kept = result.edges.filter(e => Math.abs(e.score) >= shown);
  const ran = toolAnswer<'circuit'>(snap, CIRCUIT_KEY);
  const keep = (): void =>
    store.runTool(CIRCUIT_KEY, 'circuit', { pair, keep: kept.map(e => [e.from_node, e.to_node] as [string, string]) });
  return (
    <div data-edges={result.n_edges}>
      <p className="jp-Transpector-dim">
        {result.metric_label}: corrupt {result.corrupt_value.toFixed(3)}, clean {result.clean_value.toFixed(3)} · {result.n_edges} edges, the top{' '}
        {result.edges.length} sent{result.note ? ` · ${result.note}` : ''}
      </p>
      <label className="jp-Transpector-field jp-Transpector-threshold" data-threshold={shown}>
        <input type="checkbox" checked={threshold !== null} onChange={e => store.setCircuitThreshold(e.target.checked ? shown : null)} />
        draw on the graph the edges with |score| above
        <input aria-label="Edge threshold" type="range" min={0} max={high} step={high / 200 || 0.01} value={shown} onChange={e => store.setCircuitThreshold(Number(e.target.value))} />
        <span className="jp-Transpector-dim">
          {edgeScore(shown)} ({kept.length} edges)
        </span>
      </label>
      <EdgeList store={store} edges={result.edges} />
      <div className="jp-Transpector-row">
        <button className="jp-Transpector-button" disabled={ran?.status === 'loading' || kept.length === 0} onClick={keep}>
          Keep only these {kept.length} edges
        </button>
        {ran?.status === 'loading' && <ProgressRow progress={ran.progress} onCancel={id => store.cancel(id)} />}
      </div>
      {ran?.status === 'error' && <p className="jp-Transpector-errortext">{ran.message}</p>}
      {ran?.status === 'ready' && <CircuitValue result={ran.result} />}
    </div>
  );
}

function CircuitValue({ result }: { result: CircuitResult }): React.ReactElement {
  const share = result.normalized;
  return (
    <p className="jp-Transpector-circuit" data-value={result.value} data-normalized={share ?? ''} data-kept={result.kept}>
      The circuit alone ({result.kept} edges kept, {result.removed} patched to corrupt): {result.metric_label} = <strong>{result.value.toFixed(3)}</strong>
      {share !== null && share !== undefined && <> · {(share * 100).toFixed(1)}% of the way from corrupt to clean</>}
    </p>
  );
}

export const EdgeAttribution = memoCard(EdgeAttributionCard, 'state', 'tools', 'view');
