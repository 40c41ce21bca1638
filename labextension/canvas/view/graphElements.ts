/**
 * What GraphPane hands xyflow, built from the layout and the snapshot: nodes (each with its size
 * and handles declared, so xyflow culls it before measuring it), layer frames, model edges and
 * patch edges. A node whose drawing did not change keeps its object, so xyflow does not adopt,
 * measure or re-render it again.
 */
import type { Edge, Node, NodeHandle } from '@xyflow/react';
import { Position } from '@xyflow/react';

import type { GraphNode, GraphSpec, Intervention } from '../../protocol.generated';
import { describeIntervention, headColor } from '../format';
import { LayerMarks, SummaryLayout, summaryId } from '../layerSummary';
import { GraphLayout, LaidNode } from '../layout';
import { ABLATABLE, CanvasSnapshot, CanvasStore, isWholeNode, patchCompatible, replacedNodes } from '../store';
import { FrameFlowNode, ModelFlowNode, PatchFlowEdge, SummaryFlowNode } from './flowNodes';

/** What every node shares (made once per store, so unchanged nodes compare equal). A head's
 * DLA badge reads the store itself: a new run then changes no node, only the mounted badges. */
export interface NodeActions {
  select: (id: string) => void;
  pick: (id: string) => void;
  fold: (layer: number) => void;
  toggleAblation: (id: string) => void;
  store: CanvasStore;
}

export function nodeActions(store: CanvasStore): NodeActions {
  return {
    select: id => store.selectNode(id),
    pick: id => store.togglePicked(id),
    fold: layer => store.toggleFold(layer),
    toggleAblation: id => store.toggleAblation(id),
    store
  };
}

/** Sizes of the handles as style/graph.css draws them (border-box, centred on the edge). */
const PATCH_DOT = 12;
const PLAIN_DOT = 6;

/** Where a node's handles are, in node pixels: the whole node takes drops (target); the source
 * dot sits on the middle of the right edge. */
export function nodeHandles(width: number, height: number, patchable: boolean): NodeHandle[] {
  const dot = patchable ? PATCH_DOT : PLAIN_DOT;
  return [
    { type: 'target', position: Position.Left, x: 0, y: 0, width, height },
    { type: 'source', position: Position.Right, x: width - dot / 2, y: height / 2 - dot / 2, width: dot, height: dot }
  ];
}

function shortLabel(node: LaidNode): string {
  if (node.kind === 'head') {
    return `H${node.head}`;
  }
  if (node.kind === 'resid_pre' || node.kind === 'resid_mid' || node.kind === 'resid_post') {
    return node.kind.slice(6);
  }
  return node.layer !== null ? node.label.replace(new RegExp(` ${node.layer}$`), '') : node.label;
}

const NO_TINTS: ReadonlyMap<string, number> = new Map();

export function flowNodes(
  layout: GraphLayout,
  graph: GraphSpec,
  snap: CanvasSnapshot,
  actions: NodeActions,
  byId: ReadonlyMap<string, GraphNode>,
  far = false,
  tints: ReadonlyMap<string, number> = NO_TINTS
): Node[] {
  const source = snap.view.patchSource;
  const patchState = (id: string): ModelFlowNode['data']['patch'] => {
    if (source === null) {
      return null;
    }
    return id === source ? 'source' : patchCompatible(byId.get(source), byId.get(id)) ? 'valid' : 'invalid';
  };
  const marks = new Map<string, Set<string>>();
  const zeroAblated = new Set<string>();
  const pending = new Set(snap.pending.flatMap(p => p.nodes));
  const picked = new Set(snap.view.picked);
  const mark = (node: string, kind: string): void => {
    marks.set(node, (marks.get(node) ?? new Set()).add(kind));
  };
  for (const i of snap.state?.interventions ?? []) {
    mark(i.node, i.kind);
    if (i.kind === 'isolate') {
      replacedNodes(i, graph.n_heads).forEach(other => mark(other, 'ablate')); // the heads it zeroes
    }
    if (isWholeNode(i, 'zero')) {
      zeroAblated.add(i.node);
    }
  }
  const frames: FrameFlowNode[] = layout.frames.map(f => ({
    id: `frame.L${f.layer}`,
    type: 'frame',
    position: { x: f.x, y: f.y },
    width: f.width,
    height: f.height,
    measured: { width: f.width, height: f.height },
    handles: [],
    // Frames let clicks through to the pane (panning); only their header button takes them.
    style: { width: f.width, height: f.height, pointerEvents: 'none' },
    zIndex: -1,
    selectable: false,
    data: { layer: f.layer, folded: f.folded, onToggleFold: actions.fold }
  }));
  const models: ModelFlowNode[] = layout.nodes.map(n => {
    const patchable = byId.get(n.id)?.targetable ?? false;
    return {
      id: n.id,
      type: 'model',
      position: { x: n.x, y: n.y },
      width: n.width,
      height: n.height,
      measured: { width: n.width, height: n.height },
      handles: nodeHandles(n.width, n.height, patchable),
      style: { width: n.width, height: n.height, pointerEvents: 'all' },
      selected: picked.has(n.id),
      data: {
        id: n.id,
        kind: n.kind,
        label: n.kind === 'layer' ? n.label : shortLabel(n),
        title: n.kind === 'head' ? `head ${n.id}` : n.id,
        color: n.kind === 'head' ? headColor(n.head ?? 0, graph.n_heads) : null,
        ablatable: ABLATABLE.has(n.kind),
        ablated: zeroAblated.has(n.id),
        marks: [...(marks.get(n.id) ?? [])].sort().join(' '),
        selected: snap.view.selectedNode === n.id,
        layer: n.layer,
        head: n.head,
        far,
        pending: pending.has(n.id),
        tint: tints.get(n.id) ?? null,
        picked: picked.has(n.id),
        patchable,
        patch: patchState(n.id),
        actions
      }
    };
  });
  return [...frames, ...models];
}

/** Where a summary box's edges meet it: the residual row (graph y = 0) on its left and right
 * edges, `top` graph pixels below its top. */
export function spineHandles(width: number, height: number, top: number): NodeHandle[] {
  const y = Math.min(Math.max(top, 0), height);
  return [
    { type: 'target', position: Position.Left, x: 0, y: y - 1, width: 2, height: 2 },
    { type: 'source', position: Position.Right, x: width - 2, y: y - 1, width: 2, height: 2 }
  ];
}

/**
 * The nodes of the far view: one box per layer where its frame is (its marks count the layer's
 * interventions; a click zooms into it) and the nodes outside layers, as `flowNodes` draws
 * them (`outside`).
 */
export function summaryFlowNodes(
  summary: SummaryLayout,
  marks: ReadonlyMap<number, LayerMarks>,
  onOpen: (layer: number) => void,
  outside: Node[]
): Node[] {
  const boxes: SummaryFlowNode[] = summary.layers.map(f => {
    const mark = marks.get(f.layer);
    return {
      id: summaryId(f.layer),
      type: 'summary',
      position: { x: f.x, y: f.y },
      width: f.width,
      height: f.height,
      measured: { width: f.width, height: f.height },
      handles: spineHandles(f.width, f.height, -f.y),
      style: { width: f.width, height: f.height, pointerEvents: 'all' },
      selectable: false,
      data: {
        layer: f.layer,
        folded: f.folded,
        spine: -f.y,
        replaced: mark?.replaced ?? 0,
        patched: mark?.patched ?? 0,
        kinds: mark?.kinds ?? '',
        onOpen
      }
    };
  });
  return [...boxes, ...outside];
}

/** The centre of node `id` in `layout` (graph pixels), or null when it is not drawn there. */
export function nodeCentre(layout: GraphLayout, id: string): { x: number; y: number } | null {
  const node = layout.nodes.find(n => n.id === id);
  return node ? { x: node.x + node.width / 2, y: node.y + node.height / 2 } : null;
}

/** The model's edges (without the heads' when `far`): they change only with the layout (or
 * the summary layout). */
export function flowEdges(layout: Pick<GraphLayout, 'nodes' | 'edges'>, far = false): Edge[] {
  const heads = new Set(far ? layout.nodes.filter(n => n.kind === 'head').map(n => n.id) : []);
  return layout.edges
    .filter(e => !heads.has(e.source) && !heads.has(e.target))
    .map(e => ({
      id: e.id,
      source: e.source,
      target: e.target,
      className: `jp-Transpector-edge jp-mod-${e.kind}`,
      focusable: false
    }));
}

/** One edge per patch whose nodes are drawn; its remove button removes the patch. */
export function patchEdges(layout: Pick<GraphLayout, 'nodes'>, interventions: Intervention[], store: CanvasStore): PatchFlowEdge[] {
  const laid = new Set(layout.nodes.map(n => n.id));
  return interventions.flatMap(i =>
    i.kind === 'patch' && i.id && laid.has(i.source) && laid.has(i.node)
      ? [
          {
            id: `patch:${i.id}`,
            type: 'patch' as const,
            source: i.source,
            target: i.node,
            focusable: false,
            zIndex: 1,
            data: { label: describeIntervention(i), onRemove: () => store.send({ op: 'remove_intervention', id: i.id ?? '' }) }
          }
        ]
      : []
  );
}

/**
 * Scored edges between drawn nodes whose |score| is at least `threshold`, as wide as |score|:
 * head composition (`kind` 'composition') or an edge attribution circuit ('circuit'; a
 * negative score is drawn in its own colour).
 */
export function scoredEdges(
  layout: Pick<GraphLayout, 'nodes'>,
  edges: { from_node: string; to_node: string; score: number }[],
  threshold: number,
  kind: 'composition' | 'circuit'
): Edge[] {
  const laid = new Set(layout.nodes.map(n => n.id));
  const top = Math.max(1e-9, ...edges.map(e => Math.abs(e.score)));
  return edges
    .filter(e => Math.abs(e.score) >= threshold && laid.has(e.from_node) && laid.has(e.to_node))
    .map(e => ({
      id: `${kind}:${e.from_node}->${e.to_node}`,
      source: e.from_node,
      target: e.to_node,
      className: `jp-Transpector-${kind}-edge${e.score < 0 ? ' jp-Transpector-negative-edge' : ''}`,
      style: { strokeWidth: 1 + 4 * (Math.abs(e.score) / top) },
      focusable: false,
      zIndex: 1,
      data: { score: e.score }
    }));
}

/**
 * CSS that draws the edges leaving a node whose output an intervention replaces (ablated, frozen,
 * or the other heads of an isolated one) dashed in the error colour, by edge id
 * ("source->target"), inside the graph whose data-graph is `scope`: an ablation restyles edges
 * without handing xyflow new ones.
 */
export function ablatedEdgesCss(interventions: Intervention[], scope: string, nHeads: number): string {
  const sources = [...new Set(interventions.flatMap(i => replacedNodes(i, nHeads)))].sort();
  if (sources.length === 0) {
    return '';
  }
  const quoted = (text: string): string => text.replace(/["\\]/g, '');
  const selectors = sources.map(id => `[data-graph="${quoted(scope)}"] .react-flow__edge[data-id^="${quoted(id)}->"] path`);
  return `${selectors.join(',\n')} {\n  stroke: var(--jp-error-color1);\n  stroke-dasharray: 4 3;\n}`;
}

/**
 * `next` with every node whose drawing equals the one in `previous` replaced by that previous
 * object: same position, size and data (compared field by field; callbacks are shared).
 */
export function reuseUnchanged(previous: ReadonlyMap<string, Node>, next: Node[]): Node[] {
  return next.map(node => {
    const old = previous.get(node.id);
    return old && sameDrawing(old, node) ? old : node;
  });
}

/** `next`, or `previous` itself when they hold the very same nodes (xyflow then has nothing to
 * adopt). */
export function sameOrNext(previous: Node[], next: Node[]): Node[] {
  return previous.length === next.length && next.every((n, i) => n === previous[i]) ? previous : next;
}

function sameDrawing(a: Node, b: Node): boolean {
  if (a.type !== b.type || a.position.x !== b.position.x || a.position.y !== b.position.y) {
    return false;
  }
  if (a.width !== b.width || a.height !== b.height) {
    return false;
  }
  const keys = Object.keys(b.data);
  return keys.length === Object.keys(a.data).length && keys.every(k => a.data[k] === b.data[k]);
}
