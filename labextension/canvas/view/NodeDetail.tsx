/**
 * The selected node: what it is, its direct logit attribution, its intervention toolbar (whole
 * node, or some positions), a keyboard way to patch it into another node, and what it shows
 * from the kernel (NodeData.tsx).
 */
import * as React from 'react';

import type { GraphNode } from '../../protocol.generated';
import { signed } from '../format';
import {
  Action,
  CanvasSnapshot,
  CanvasStore,
  activePrompt,
  headDla,
  interventionOf,
  nodeById,
  nodeDataFor,
  parsePositions,
  patchCompatible
} from '../store';
import { memoCard } from './memo';
import { PerPosition, Pattern } from './NodeData';
import { NoteEditor } from './Notes';

/** What a node's toolbar offers: interventions on targetable nodes (the kernel says which),
 * isolate on heads, freeze on targetable nodes other than the embeddings. */
const ACTIONS: { action: Action; label: string; offered: (node: GraphNode) => boolean }[] = [
  { action: 'zero', label: 'Zero-ablate', offered: n => n.targetable },
  { action: 'mean', label: 'Mean-ablate', offered: n => n.targetable },
  { action: 'resample', label: 'Resample', offered: n => n.targetable },
  { action: 'isolate', label: 'Isolate', offered: n => n.kind === 'head' },
  { action: 'freeze', label: 'Freeze', offered: n => n.targetable && n.kind !== 'embed' && n.kind !== 'pos_embed' }
];

function NodeDetailCard({ store, snap }: { store: CanvasStore; snap: CanvasSnapshot }): React.ReactElement {
  const node = nodeById(snap.graph, snap.view.selectedNode);
  if (!node) {
    return (
      <section className="jp-Transpector-card jp-Transpector-detail" aria-label="Selected node">
        <h3>Selected node</h3>
        <p className="jp-Transpector-dim">Click a node in the graph: a head shows its attention pattern.</p>
      </section>
    );
  }
  const dla = node.kind === 'head' ? headDla(snap.run, node.layer ?? -1, node.head ?? -1) : null;
  const actions = ACTIONS.filter(a => a.offered(node));
  const shows = nodeDataFor(node);
  return (
    <section className="jp-Transpector-card jp-Transpector-detail" aria-label="Selected node" data-node-id={node.id}>
      <h3>
        {node.label} <span className="jp-Transpector-dim">{node.kind}</span>
      </h3>
      <p className="jp-Transpector-dim">
        shape [{node.shape.join(', ')}]{node.kv_head !== null && node.kv_head !== undefined ? ` · kv head ${node.kv_head}` : ''}
        {node.hooks.out ? ` · ${node.hooks.out}` : ''}
      </p>
      {dla !== null && snap.run && (
        <p>
          Direct logit attribution to {snap.run.dla_label || `logit(${JSON.stringify(snap.run.dla_token.token)})`}: <strong>{signed(dla, 3)}</strong>
        </p>
      )}
      {actions.length > 0 && <Toolbar key={`toolbar ${node.id}`} store={store} snap={snap} node={node} actions={actions} />}
      {node.targetable && <PatchInto key={`patch ${node.id}`} store={store} snap={snap} source={node} />}
      <NoteEditor key={`note ${node.id}`} store={store} snap={snap} target={node.id} />
      {shows === 'pattern' && <Pattern snap={snap} node={node} />}
      {(shows === 'norm' || shows === 'scale') && <PerPosition snap={snap} node={node} what={shows} />}
    </section>
  );
}

/** The keyboard's way to patch (the graph's is a drag): this node into one of the same shape. */
function PatchInto({ store, snap, source }: { store: CanvasStore; snap: CanvasSnapshot; source: GraphNode }): React.ReactElement | null {
  const targets = React.useMemo(() => (snap.graph?.nodes ?? []).filter(n => patchCompatible(source, n)), [snap.graph, source]);
  const [target, setTarget] = React.useState('');
  const chosen = targets.some(n => n.id === target) ? target : (targets[0]?.id ?? '');
  if (!chosen) {
    return null;
  }
  return (
    <div className="jp-Transpector-row" role="group" aria-label={`Patch ${source.id} into another node`}>
      <button className="jp-Transpector-button" onClick={() => store.addPatch(source.id, chosen)}>
        Patch into
      </button>
      <select aria-label="Patch target" value={chosen} onChange={e => setTarget(e.target.value)}>
        {targets.map(n => (
          <option key={n.id} value={n.id}>
            {n.id}
          </option>
        ))}
      </select>
      <span className="jp-Transpector-dim">
        on {JSON.stringify(snap.view.patchPrompt || activePrompt(snap.state))}
      </span>
    </div>
  );
}

export const NodeDetail = memoCard(NodeDetailCard, 'graph', 'view', 'state', 'run', 'nodeData');

/** Each button adds its intervention on the whole node or removes it; with positions typed, it
 * adds one at those positions only. */
function Toolbar(props: { store: CanvasStore; snap: CanvasSnapshot; node: GraphNode; actions: typeof ACTIONS }): React.ReactElement {
  const { store, snap, node, actions } = props;
  const [text, setText] = React.useState('');
  const parsed = parsePositions(text);
  const positions = 'positions' in parsed ? parsed.positions : null;
  const where = positions ? ` at positions ${positions.join(', ')}` : ' (all positions)';
  return (
    <>
      <div className="jp-Transpector-row" role="toolbar" aria-label={`Interventions on ${node.label}`}>
        {actions.map(({ action, label }) => {
          const on = !positions && interventionOf(snap.state, node.id, action) !== undefined;
          return (
            <button
              key={action}
              className={`jp-Transpector-button jp-Transpector-action${action === 'zero' ? ' jp-Transpector-detail-ablate' : ''}`}
              data-action={action}
              aria-pressed={on}
              disabled={'error' in parsed}
              title={on ? `Remove: ${label.toLowerCase()} ${node.id}` : `${label} ${node.id}${where}`}
              onClick={() => store.toggle(node.id, action, positions)}
            >
              {label}
            </button>
          );
        })}
      </div>
      <label className="jp-Transpector-row jp-Transpector-positions">
        At positions
        <input
          type="text"
          value={text}
          placeholder="all (or e.g. 0, 3-5, -1)"
          spellCheck={false}
          aria-invalid={'error' in parsed}
          onChange={e => setText(e.target.value)}
          onKeyDown={e => e.stopPropagation()}
        />
      </label>
      {'error' in parsed && <p className="jp-Transpector-errortext">{parsed.error}</p>}
    </>
  );
}
