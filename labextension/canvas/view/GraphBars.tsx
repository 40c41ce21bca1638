/**
 * The graph pane's bars: Find (any node id, suggested as you type) and the bar of picked nodes
 * (one change for all of them).
 */
import * as React from 'react';

import type { GraphNode, GraphSpec } from '../../protocol.generated';
import { CanvasSnapshot, CanvasStore, GroupAction, activePrompt } from '../store';

/** A text field with every node id as a suggestion (listed once it has focus: a large model has
 * over a thousand); Enter finds the typed id. */
export function FindNode(props: { graph: GraphSpec; byId: ReadonlyMap<string, GraphNode>; onFind: (id: string) => void }): React.ReactElement {
  const { graph, byId, onFind } = props;
  const [text, setText] = React.useState('');
  const [focused, setFocused] = React.useState(false);
  const listId = React.useId();
  const known = byId.has(text.trim());
  return (
    <label className="jp-Transpector-field jp-mod-find" title="Type a node id (L3.H2, L0.mlp, unembed) and press Enter">
      Find
      <input
        type="text"
        list={listId}
        value={text}
        placeholder="L0.H1"
        spellCheck={false}
        aria-invalid={text.trim() !== '' && !known}
        onChange={e => setText(e.target.value)}
        onFocus={() => setFocused(true)}
        onKeyDown={e => {
          e.stopPropagation();
          if (e.key === 'Enter' && known) {
            onFind(text.trim());
          }
        }}
      />
      {focused && (
        <datalist id={listId}>
          {graph.nodes.map(n => (
            <option key={n.id} value={n.id} />
          ))}
        </datalist>
      )}
    </label>
  );
}

const GROUP_ACTIONS: { action: GroupAction; label: string; fits: (n: GraphNode) => boolean }[] = [
  { action: 'zero', label: 'Zero-ablate', fits: n => n.targetable },
  { action: 'mean', label: 'Mean-ablate', fits: n => n.targetable },
  { action: 'isolate', label: 'Isolate', fits: n => n.kind === 'head' },
  { action: 'freeze', label: 'Freeze', fits: n => n.targetable },
  { action: 'patch', label: 'Patch from', fits: n => n.targetable }
];

/** The picked nodes, and one change for all of them (one version, one run). */
export function PickedBar({ store, snap, byId }: { store: CanvasStore; snap: CanvasSnapshot; byId: ReadonlyMap<string, GraphNode> }): React.ReactElement {
  const picked = snap.view.picked.map(id => byId.get(id)).filter((n): n is GraphNode => !!n);
  const from = snap.view.patchPrompt || activePrompt(snap.state);
  return (
    <div className="jp-Transpector-row jp-Transpector-picked" role="toolbar" aria-label="Picked nodes">
      <span title={picked.map(n => n.id).join(', ')}>
        <strong>{picked.length}</strong> picked
      </span>
      {GROUP_ACTIONS.map(({ action, label, fits }) => {
        const count = picked.filter(fits).length;
        return (
          <button
            key={action}
            className="jp-Transpector-button"
            disabled={count === 0}
            title={action === 'patch' ? `Each node's own value on ${JSON.stringify(from)}` : undefined}
            onClick={() => store.actOnPicked(action)}
          >
            {label} {count}
            {action === 'patch' ? ` (${from.slice(0, 16)}${from.length > 16 ? '…' : ''})` : ''}
          </button>
        );
      })}
      <span className="jp-Transpector-spacer" />
      <button className="jp-Transpector-button" onClick={() => store.setPicked([])}>
        Clear picks
      </button>
    </div>
  );
}
