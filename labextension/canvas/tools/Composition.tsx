/**
 * Head composition (weights only, no prompt): Q, K or V composition scores between heads of
 * different layers. The strongest pairs are listed (a click selects the later head), and the
 * pairs above the slider's threshold are drawn on the graph as edges as wide as their score.
 */
import * as React from 'react';

import type { CompositionResult } from '../../protocol.generated';
import { CanvasSnapshot, CanvasStore, COMPOSITION_KEY, toolAnswer } from '../store';
import { EdgeList } from '../view/EdgeList';
import { memoCard } from '../view/memo';
import { ProgressRow } from '../view/Progress';

type Kind = CompositionResult['kind'];

/** How many pairs the kernel sends: the slider picks among them. */
const MAX_EDGES = 200;

function CompositionCard({ store, snap }: { store: CanvasStore; snap: CanvasSnapshot }): React.ReactElement {
  const [kind, setKind] = React.useState<Kind>('K');
  const answer = toolAnswer<'head_composition'>(snap, COMPOSITION_KEY);
  const running = answer?.status === 'loading';
  const threshold = snap.view.compositionThreshold;
  return (
    <section className="jp-Transpector-card jp-Transpector-composition" aria-label="Head composition">
      <h3>
        Head composition <span className="jp-Transpector-dim">from the weights: which later heads read which earlier ones</span>
      </h3>
      <div className="jp-Transpector-row">
        <select aria-label="Composition" value={kind} onChange={e => setKind(e.target.value as Kind)}>
          <option value="Q">Q-composition (queries)</option>
          <option value="K">K-composition (keys)</option>
          <option value="V">V-composition (values)</option>
        </select>
        <button className="jp-Transpector-button" disabled={running} onClick={() => store.runTool(COMPOSITION_KEY, 'head_composition', { kind, max_edges: MAX_EDGES })}>
          Score
        </button>
        {running && <ProgressRow progress={answer.progress} onCancel={id => store.cancel(id)} />}
      </div>
      {answer?.status === 'error' && <p className="jp-Transpector-errortext">{answer.message}</p>}
      {answer?.status === 'ready' && <Edges store={store} result={answer.result} threshold={threshold} />}
    </section>
  );
}

function Edges(props: { store: CanvasStore; result: CompositionResult; threshold: number | null }): React.ReactElement {
  const { store, result, threshold } = props;
  const scores = result.edges.map(e => e.score);
  const [low, high] = [Math.min(...scores, 0), Math.max(...scores, 0)];
  const shown = threshold ?? high;
  const drawn = result.edges.filter(e => e.score >= shown);
  return (
    <div data-kind={result.kind}>
      <label className="jp-Transpector-field jp-Transpector-threshold" data-threshold={shown}>
        <input type="checkbox" checked={threshold !== null} onChange={e => store.setCompositionThreshold(e.target.checked ? shown : null)} />
        draw on the graph the pairs above
        <input
          aria-label="Threshold"
          type="range"
          min={low}
          max={high}
          step={(high - low) / 100 || 0.01}
          value={shown}
          onChange={e => store.setCompositionThreshold(Number(e.target.value))}
        />
        <span className="jp-Transpector-dim">
          {shown.toFixed(3)} ({drawn.length} of the top {result.edges.length})
        </span>
      </label>
      <EdgeList store={store} edges={result.edges} />
    </div>
  );
}

export const Composition = memoCard(CompositionCard, 'tools', 'view');
