/**
 * Positional attention (QK): each head's attention by offset (query position − key position),
 * from W_pos where the model learned its positions, else measured on seeded random tokens. The
 * heads ranked by a score show their profiles (heads down, offsets across); an overview gives
 * every head's score by layer. A click on a head selects it on the graph.
 */
import * as React from 'react';

import type { QkPositionsArgs, QkPositionsResult } from '../../protocol.generated';
import { CanvasSnapshot, CanvasStore, toolAnswer } from '../store';
import { memoCard } from '../view/memo';
import { ProgressRow } from '../view/Progress';
import { SweepHeatmap } from '../view/SweepHeatmap';
import { PositionRank, RANKS, headGrid, headNode, profileSource, rankTable } from '../weightsGrid';
import { ProfileHeatmap } from './QkProfiles';

const KEY = 'qk_positions';
type Method = NonNullable<QkPositionsArgs['method']>;

function QkPositionsCard({ store, snap }: { store: CanvasStore; snap: CanvasSnapshot }): React.ReactElement {
  const [method, setMethod] = React.useState<Method>('auto');
  const [length, setLength] = React.useState(32);
  const [samples, setSamples] = React.useState(8);
  const answer = toolAnswer<'qk_positions'>(snap, KEY);
  const running = answer?.status === 'loading';
  return (
    <section className="jp-Transpector-card jp-Transpector-qkpositions" aria-label="Positional attention">
      <h3>
        Positional attention <span className="jp-Transpector-dim">each head&apos;s attention by offset (query − key)</span>
      </h3>
      <div className="jp-Transpector-row">
        <select aria-label="Method" value={method} onChange={e => setMethod(e.target.value as Method)}>
          <option value="auto">W_pos if learned, else random tokens</option>
          <option value="weights">from W_pos (learned positions)</option>
          <option value="random_tokens">measured on random tokens</option>
        </select>
        <label className="jp-Transpector-field" title="Positions profiled: the random sequences' length">
          length
          <input aria-label="Length" type="number" min={2} value={length} onChange={e => setLength(Number(e.target.value))} />
        </label>
        <label className="jp-Transpector-field" title="Random sequences averaged (random tokens only)">
          samples
          <input aria-label="Samples" type="number" min={1} value={samples} onChange={e => setSamples(Number(e.target.value))} />
        </label>
        <button className="jp-Transpector-button" disabled={running} onClick={() => store.runTool(KEY, 'qk_positions', { method, length, samples })}>
          Profile
        </button>
        {running && <ProgressRow progress={answer.progress} onCancel={id => store.cancel(id)} />}
      </div>
      {answer?.status === 'error' && <p className="jp-Transpector-errortext">{answer.message}</p>}
      {answer?.status === 'ready' && <Profiles store={store} result={answer.result} selected={snap.view.selectedNode} />}
    </section>
  );
}

function Profiles(props: { store: CanvasStore; result: QkPositionsResult; selected: string | null }): React.ReactElement {
  const { store, result, selected } = props;
  const [rank, setRank] = React.useState<PositionRank>('previous');
  const table = rankTable(result, rank);
  const grid = headGrid(table, result.layers);
  const label = RANKS.find(r => r.rank === rank)?.label ?? rank;
  return (
    <div className="jp-Transpector-sweep" data-method={result.method} data-shape={result.shape.join('x')}>
      <p className="jp-Transpector-dim">{profileSource(result)}</p>
      <label className="jp-Transpector-field">
        rank heads by
        <select aria-label="Rank by" value={rank} onChange={e => setRank(e.target.value as PositionRank)}>
          {RANKS.map(r => (
            <option key={r.rank} value={r.rank}>
              {r.label}
            </option>
          ))}
        </select>
      </label>
      <ProfileHeatmap result={result} rank={rank} selected={selected} onPick={node => store.focusNode(node)} />
      <details className="jp-Transpector-qkoverview">
        <summary>every head&apos;s {label} score, by layer</summary>
        <SweepHeatmap grid={grid} label="Positional score heatmap" rawLabel={label} onPick={(r, c) => store.focusNode(headNode(grid.rows[r], c))} />
        <p className="jp-Transpector-legend jp-Transpector-dim">colour: the score on its full scale, 0 (none) to 1 (all the weight)</p>
      </details>
    </div>
  );
}

export const QkPositions = memoCard(QkPositionsCard, 'tools', 'view');
