/**
 * The selected node: what it is, its direct logit attribution, an ablation toggle, and (heads,
 * attention layers) its attention pattern, fetched on demand as a binary frame.
 */
import * as React from 'react';

import type { GraphNode } from '../../protocol.generated';
import { signed } from '../format';
import { Action, CanvasSnapshot, CanvasStore, interventionOf, nodeDataFor, nodeDataKey } from '../store';
import { Bars } from './Bars';
import { Heatmap } from './Heatmap';

export const ABLATABLE = new Set(['head', 'attn', 'mlp']);

/** The toolbar of a node: each button adds that whole-node intervention or removes it. */
const ACTIONS: { action: Action; label: string; kinds: string[] }[] = [
  { action: 'zero', label: 'Zero-ablate', kinds: ['head', 'attn', 'mlp', 'resid_pre', 'resid_mid', 'resid_post', 'embed', 'pos_embed'] },
  { action: 'mean', label: 'Mean-ablate', kinds: ['head', 'attn', 'mlp', 'resid_pre', 'resid_mid', 'resid_post', 'embed', 'pos_embed'] },
  { action: 'resample', label: 'Resample', kinds: ['head', 'attn', 'mlp', 'resid_pre', 'resid_mid', 'resid_post', 'embed', 'pos_embed'] },
  { action: 'isolate', label: 'Isolate', kinds: ['head'] },
  { action: 'freeze', label: 'Freeze', kinds: ['head', 'attn', 'mlp', 'resid_pre', 'resid_mid', 'resid_post'] }
];

export function NodeDetail({ store, snap }: { store: CanvasStore; snap: CanvasSnapshot }): React.ReactElement {
  const id = snap.view.selectedNode;
  const node = id ? snap.graph?.nodes.find(n => n.id === id) : undefined;
  if (!node) {
    return (
      <section className="jp-Transpector-card jp-Transpector-detail" aria-label="Selected node">
        <h3>Selected node</h3>
        <p className="jp-Transpector-dim">Click a node in the graph: a head shows its attention pattern.</p>
      </section>
    );
  }
  const dla = node.kind === 'head' ? snap.run?.head_dla[node.layer ?? -1]?.[node.head ?? -1] : undefined;
  return (
    <section className="jp-Transpector-card jp-Transpector-detail" aria-label="Selected node" data-node-id={node.id}>
      <h3>
        {node.label} <span className="jp-Transpector-dim">{node.kind}</span>
      </h3>
      <p className="jp-Transpector-dim">
        shape [{node.shape.join(', ')}]{node.kv_head !== null && node.kv_head !== undefined ? ` · kv head ${node.kv_head}` : ''}
        {node.hooks.out ? ` · ${node.hooks.out}` : ''}
      </p>
      {dla !== undefined && snap.run && (
        <p>
          Direct logit attribution to {JSON.stringify(snap.run.dla_token.token)}: <strong>{signed(dla, 3)}</strong>
        </p>
      )}
      <div className="jp-Transpector-row" role="toolbar" aria-label={`Interventions on ${node.label}`}>
        {ACTIONS.filter(a => a.kinds.includes(node.kind)).map(({ action, label }) => {
          const on = interventionOf(snap.state, node.id, action) !== undefined;
          return (
            <button
              key={action}
              className={`jp-Transpector-button jp-Transpector-action${action === 'zero' ? ' jp-Transpector-detail-ablate' : ''}`}
              data-action={action}
              aria-pressed={on}
              title={on ? `Remove: ${label.toLowerCase()} ${node.id}` : `${label} ${node.id} (all positions)`}
              onClick={() => store.toggle(node.id, action)}
            >
              {label}
            </button>
          );
        })}
      </div>
      {nodeDataFor(node) === 'pattern' && <Pattern snap={snap} node={node} />}
      {nodeDataFor(node) === 'norm' && <Norms snap={snap} node={node} />}
    </section>
  );
}

function Pattern({ snap, node }: { snap: CanvasSnapshot; node: GraphNode }): React.ReactElement {
  const data = snap.nodeData[nodeDataKey(node.id, 'pattern')];
  const tokens = snap.run?.tokens ?? [];
  if (!data || data.status === 'loading') {
    return <p className="jp-Transpector-dim">Loading attention pattern…</p>;
  }
  if (data.status === 'error') {
    return <p className="jp-Transpector-errortext">{data.message}</p>;
  }
  if (data.shape.length === 2) {
    const [rows, cols] = data.shape;
    return (
      <div className="jp-Transpector-scroll-x" data-pattern-shape={data.shape.join('x')}>
        <Heatmap values={data.values} rows={rows} cols={cols} tokens={tokens} title={`${node.label} attention`} />
      </div>
    );
  }
  const [heads, rows, cols] = data.shape;
  const size = rows * cols;
  const cell = Math.max(3, Math.min(8, Math.floor(96 / Math.max(cols, 1))));
  return (
    <div className="jp-Transpector-multiples" data-pattern-shape={data.shape.join('x')}>
      {Array.from({ length: heads }, (_, h) => (
        <figure key={h}>
          <Heatmap values={data.values} offset={h * size} rows={rows} cols={cols} tokens={tokens} cell={cell} labels={false} title={`head ${h}`} />
          <figcaption>H{h}</figcaption>
        </figure>
      ))}
    </div>
  );
}

function Norms({ snap, node }: { snap: CanvasSnapshot; node: GraphNode }): React.ReactElement {
  const data = snap.nodeData[nodeDataKey(node.id, 'norm')];
  const tokens = snap.run?.tokens ?? [];
  if (!data || data.status === 'loading') {
    return <p className="jp-Transpector-dim">Loading activation norms…</p>;
  }
  if (data.status === 'error') {
    return <p className="jp-Transpector-errortext">{data.message}</p>;
  }
  const values = data.values;
  return (
    <div data-norm-shape={data.shape.join('x')}>
      <p className="jp-Transpector-dim">L2 norm of the activation per position</p>
      <Bars
        values={values}
        labels={tokens}
        label={`${node.label} activation norm per position`}
        describe={i => `${JSON.stringify(tokens[i] ?? i)}: ${values[i].toFixed(3)}`}
      />
    </div>
  );
}
