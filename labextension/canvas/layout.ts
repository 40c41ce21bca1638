/**
 * Pure layout: GraphSpec -> positioned nodes, edges and layer frames. No DOM, no React.
 *
 * The residual stream runs left to right on a "spine" row (y = 0). Each layer is a group of
 * columns: resid_pre | ln1 | heads (stacked) | attn | resid_mid | ln2 | mlp | resid_post. The
 * attention branch sits above the spine; in a parallel block the MLP branch sits below it, in the
 * same columns as attention (both read resid_pre), as the block really computes. A folded layer
 * is one node; hidden node kinds are bridged (their inputs connect to their outputs).
 */
import type { EdgeKind, GraphNode, GraphSpec, NodeKind } from '../protocol.generated';

export type LaidKind = NodeKind | 'layer';

export interface LaidNode {
  id: string;
  kind: LaidKind;
  label: string;
  layer: number | null;
  head: number | null;
  /** Top-left corner and size, in graph pixels. */
  x: number;
  y: number;
  width: number;
  height: number;
}

export interface LaidEdge {
  id: string;
  source: string;
  target: string;
  kind: EdgeKind;
}

/** The box drawn behind one layer's nodes (its header folds and unfolds it). */
export interface LayerFrame {
  layer: number;
  folded: boolean;
  x: number;
  y: number;
  width: number;
  height: number;
}

export interface GraphLayout {
  nodes: LaidNode[];
  edges: LaidEdge[];
  frames: LayerFrame[];
  width: number;
  height: number;
}

export interface LayoutOptions {
  folded?: Iterable<number>;
  hiddenKinds?: Iterable<NodeKind>;
}

export const SIZE = {
  head: { width: 100, height: 28 },
  rowHeight: 32,
  headGap: 6,
  columnGap: 26,
  branchGap: 40,
  framePad: 12,
  frameHeader: 26
};

/** Width and height of each kind of node: residual points are small, heads carry a badge. */
export const SIZES: Record<LaidKind, { width: number; height: number }> = {
  prompt: { width: 72, height: 32 },
  tokens: { width: 72, height: 32 },
  embed: { width: 80, height: 32 },
  pos_embed: { width: 80, height: 32 },
  resid_pre: { width: 46, height: 26 },
  resid_mid: { width: 46, height: 26 },
  resid_post: { width: 46, height: 26 },
  ln1: { width: 42, height: 32 },
  ln2: { width: 42, height: 32 },
  head: SIZE.head,
  attn: { width: 66, height: 32 },
  mlp: { width: 66, height: 32 },
  ln_final: { width: 72, height: 32 },
  unembed: { width: 80, height: 32 },
  outputs: { width: 80, height: 32 },
  layer: { width: 120, height: 36 }
};

export function foldedId(layer: number): string {
  return `L${layer}.folded`;
}

/** Where a kind sits: "spine" (residual row), "top" (attention branch) or "bottom". */
type Row = 'spine' | 'top' | 'bottom';
type Slot = { kind: NodeKind; row: Row }[];

function layerSlots(parallel: boolean): Slot[] {
  const mlpRow: Row = parallel ? 'bottom' : 'top';
  const slots: Slot[] = [
    [{ kind: 'resid_pre', row: 'spine' }],
    [{ kind: 'ln1', row: 'top' }],
    [{ kind: 'head', row: 'top' }],
    [{ kind: 'attn', row: 'top' }],
    [{ kind: 'resid_mid', row: 'spine' }],
    [{ kind: 'ln2', row: mlpRow }],
    [{ kind: 'mlp', row: mlpRow }],
    [{ kind: 'resid_post', row: 'spine' }]
  ];
  if (parallel) {
    // Both branches read resid_pre: ln2 beside ln1, the MLP beside the heads.
    slots[1].push(slots[5][0]);
    slots[2].push(slots[6][0]);
    slots.splice(5, 2);
  }
  return slots;
}

const BEFORE: Slot[] = [
  [{ kind: 'prompt', row: 'spine' }],
  [{ kind: 'tokens', row: 'spine' }],
  [
    { kind: 'embed', row: 'spine' },
    { kind: 'pos_embed', row: 'top' }
  ]
];
const AFTER: Slot[] = [
  [{ kind: 'ln_final', row: 'spine' }],
  [{ kind: 'unembed', row: 'spine' }],
  [{ kind: 'outputs', row: 'spine' }]
];

export function layoutGraph(spec: GraphSpec, options: LayoutOptions = {}): GraphLayout {
  const folded = new Set(options.folded ?? []);
  const hidden = new Set(options.hiddenKinds ?? []);
  const shown = (node: GraphNode): boolean => !hidden.has(node.kind);
  const headsHeight = Math.max(
    SIZE.rowHeight,
    spec.n_heads * SIZE.head.height + (spec.n_heads - 1) * SIZE.headGap
  );
  // Centre of each row; the attention branch is as tall as the stacked heads.
  const offset = headsHeight / 2 + SIZE.branchGap + SIZE.rowHeight / 2;
  const rowY: Record<Row, number> = { spine: 0, top: -offset, bottom: offset };

  const byLayer = new Map<number | null, GraphNode[]>();
  for (const node of spec.nodes) {
    const list = byLayer.get(node.layer ?? null) ?? [];
    list.push(node);
    byLayer.set(node.layer ?? null, list);
  }
  const nodes: LaidNode[] = [];
  const frames: LayerFrame[] = [];
  let x = 0;

  /** Places the nodes of each non-empty slot in columns from x; returns the new x. */
  const place = (slots: Slot[], pool: GraphNode[]): number => {
    for (const slot of slots) {
      const picked = slot.flatMap(({ kind, row }) =>
        pool.filter(n => n.kind === kind && shown(n)).map(n => ({ n, row }))
      );
      if (picked.length === 0) {
        continue;
      }
      const width = Math.max(...picked.map(({ n }) => SIZES[n.kind].width));
      let head = 0;
      for (const { n, row } of picked) {
        const size = SIZES[n.kind];
        const left = x + (width - size.width) / 2; // centred in its column
        if (n.kind === 'head') {
          const top = rowY[row] - headsHeight / 2 + head++ * (size.height + SIZE.headGap);
          nodes.push(laid(n, left, top, size));
        } else {
          nodes.push(laid(n, left, rowY[row] - size.height / 2, size));
        }
      }
      x += width + SIZE.columnGap;
    }
    return x;
  };

  place(BEFORE, byLayer.get(null) ?? []);
  for (let layer = 0; layer < spec.n_layers; layer++) {
    const pool = byLayer.get(layer) ?? [];
    const start = x;
    x += SIZE.framePad;
    const first = nodes.length;
    if (folded.has(layer)) {
      nodes.push({
        id: foldedId(layer),
        kind: 'layer',
        label: `Layer ${layer}`,
        layer,
        head: null,
        x,
        y: -SIZES.layer.height / 2,
        ...SIZES.layer
      });
      x += SIZES.layer.width + SIZE.columnGap;
    } else {
      const parallel = pool.some(n => n.kind === 'mlp') && !pool.some(n => n.kind === 'resid_mid');
      place(layerSlots(parallel), pool);
    }
    const members = nodes.slice(first);
    const top = Math.min(...members.map(n => n.y), -SIZE.rowHeight / 2);
    const bottom = Math.max(...members.map(n => n.y + n.height), SIZE.rowHeight / 2);
    frames.push({
      layer,
      folded: folded.has(layer),
      x: start,
      y: top - SIZE.framePad - SIZE.frameHeader,
      width: x - SIZE.columnGap + SIZE.framePad - start,
      height: bottom - top + 2 * SIZE.framePad + SIZE.frameHeader
    });
    x += SIZE.framePad + SIZE.columnGap;
  }
  place(AFTER, byLayer.get(null) ?? []);

  const minY = Math.min(0, ...nodes.map(n => n.y), ...frames.map(f => f.y));
  const maxY = Math.max(0, ...nodes.map(n => n.y + n.height), ...frames.map(f => f.y + f.height));
  return {
    nodes,
    edges: visibleEdges(spec, folded, hidden),
    frames,
    width: Math.max(0, x - SIZE.columnGap),
    height: maxY - minY
  };
}

function laid(node: GraphNode, x: number, y: number, size: { width: number; height: number }): LaidNode {
  return {
    id: node.id,
    kind: node.kind,
    label: node.label,
    layer: node.layer ?? null,
    head: node.head ?? null,
    x,
    y,
    ...size
  };
}

/**
 * The spec's edges between what is drawn: a folded layer's nodes become the layer node (its
 * inner edges vanish), a hidden node is bridged from each visible input to each visible output.
 */
export function visibleEdges(
  spec: GraphSpec,
  folded: ReadonlySet<number>,
  hidden: ReadonlySet<NodeKind>
): LaidEdge[] {
  const kind = new Map(spec.nodes.map(n => [n.id, n] as const));
  const into = new Map<string, string[]>();
  const out = new Map<string, string[]>();
  for (const e of spec.edges) {
    into.set(e.target, [...(into.get(e.target) ?? []), e.source]);
    out.set(e.source, [...(out.get(e.source) ?? []), e.target]);
  }
  const visible = (id: string): string | null => {
    const node = kind.get(id);
    if (!node) {
      return null;
    }
    if (node.layer !== null && node.layer !== undefined && folded.has(node.layer)) {
      return foldedId(node.layer);
    }
    return hidden.has(node.kind) ? null : id;
  };
  const reach = (start: string, next: Map<string, string[]>): string[] => {
    const found = new Set<string>();
    const seen = new Set<string>();
    const stack = [start];
    while (stack.length > 0) {
      const id = stack.pop() as string;
      if (seen.has(id)) {
        continue;
      }
      seen.add(id);
      const v = visible(id);
      if (v !== null) {
        found.add(v);
      } else {
        stack.push(...(next.get(id) ?? []));
      }
    }
    return [...found];
  };
  const edges = new Map<string, LaidEdge>();
  for (const e of spec.edges) {
    for (const source of reach(e.source, into)) {
      for (const target of reach(e.target, out)) {
        const id = `${source}->${target}`;
        if (source !== target && !edges.has(id)) {
          edges.set(id, { id, source, target, kind: e.kind });
        }
      }
    }
  }
  return [...edges.values()];
}
