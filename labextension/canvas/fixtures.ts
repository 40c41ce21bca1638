/**
 * Synthetic GraphSpecs shaped like transpector/kernel/graph.py builds them, for unit tests and
 * benchmarks (e.g. 32 layers x 32 heads) without a model.
 */
import type { GraphEdge, GraphNode, GraphSpec, NodeKind } from '../protocol.generated';

export interface SyntheticOptions {
  layers: number;
  heads: number;
  parallel?: boolean;
  attnOnly?: boolean;
  positional?: 'standard' | 'rotary';
  normalization?: 'LN' | 'RMS' | 'none';
}

/** The kinds the kernel marks targetable (transpector/kernel/targets.py). */
const TARGETABLE: ReadonlySet<NodeKind> = new Set<NodeKind>(['embed', 'pos_embed', 'resid_pre', 'attn', 'head', 'resid_mid', 'mlp', 'resid_post']);

export function syntheticGraph(options: SyntheticOptions): GraphSpec {
  const { layers, heads, parallel = false, attnOnly = false } = options;
  const positional = options.positional ?? 'standard';
  const normalization = options.normalization ?? 'LN';
  const nodes: GraphNode[] = [];
  const edges: GraphEdge[] = [];
  const add = (kind: NodeKind, id: string, layer: number | null = null, head: number | null = null): string => {
    if (normalization === 'none' && (kind === 'ln1' || kind === 'ln2' || kind === 'ln_final')) {
      return '';
    }
    nodes.push({ id, kind, label: id, layer, head, kv_head: null, hooks: {}, shape: ['batch', 'pos', 64], targetable: TARGETABLE.has(kind) });
    return id;
  };
  const edge = (source: string, target: string, kind: GraphEdge['kind']): void => {
    if (source && target) {
      edges.push({ source, target, kind });
    }
  };
  edge(add('prompt', 'prompt'), add('tokens', 'tokens'), 'read');
  const writers = [add('embed', 'embed')];
  if (positional === 'standard') {
    writers.push(add('pos_embed', 'pos_embed'));
  }
  writers.forEach(w => edge('tokens', w, 'read'));
  let stream = '';
  for (let l = 0; l < layers; l++) {
    const pre = add('resid_pre', `L${l}.resid_pre`, l);
    (stream ? [stream] : writers).forEach(w => edge(w, pre, stream ? 'residual' : 'write'));
    const ln1 = add('ln1', `L${l}.ln1`, l);
    edge(pre, ln1, 'read');
    const attn = `L${l}.attn`;
    for (let h = 0; h < heads; h++) {
      const head = add('head', `L${l}.H${h}`, l, h);
      edge(ln1 || pre, head, 'read');
      edge(head, attn, 'write');
    }
    add('attn', attn, l);
    let mid = pre;
    let mlp = '';
    if (!attnOnly && !parallel) {
      mid = add('resid_mid', `L${l}.resid_mid`, l);
      edge(pre, mid, 'residual');
      edge(attn, mid, 'write');
    }
    if (!attnOnly) {
      const ln2 = add('ln2', `L${l}.ln2`, l);
      edge(mid, ln2, 'read');
      mlp = add('mlp', `L${l}.mlp`, l);
      edge(ln2 || mid, mlp, 'read');
    }
    const post = add('resid_post', `L${l}.resid_post`, l);
    edge(mid, post, 'residual');
    if (!mlp || parallel) {
      edge(attn, post, 'write');
    }
    edge(mlp, post, 'write');
    stream = post;
  }
  const lnFinal = add('ln_final', 'ln_final');
  edge(stream, lnFinal, 'read');
  const unembed = add('unembed', 'unembed');
  edge(lnFinal || stream, unembed, 'read');
  edge(unembed, add('outputs', 'outputs'), 'write');
  return {
    model_name: `synthetic-${layers}x${heads}`,
    n_layers: layers,
    d_model: 64,
    n_heads: heads,
    n_kv_heads: heads,
    d_head: 16,
    d_mlp: attnOnly ? null : 256,
    d_vocab: 257,
    n_ctx: 64,
    normalization,
    positional,
    parallel_attn_mlp: parallel,
    attn_only: attnOnly,
    nodes,
    edges
  };
}
