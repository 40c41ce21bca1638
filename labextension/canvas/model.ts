/**
 * What the canvas store holds, and pure helpers that read it: no I/O, no DOM.
 */
import type {
  ClientMessage,
  ErrorMessage,
  GraphNode,
  GraphSpec,
  Intervention,
  NodeDataKind,
  NodeKind,
  RunSummary,
  SessionState,
  ToolName,
  ToolResults
} from '../protocol.generated';
import type { MoveProgress } from './placement';

export type Connection =
  | { kind: 'connecting' }
  | { kind: 'live' }
  | { kind: 'reconnecting'; attempt: number; reason: string }
  | { kind: 'no_session'; message: string }
  | { kind: 'error'; message: string };

export type NodeData =
  | { status: 'loading'; version: number }
  | { status: 'ready'; version: number; shape: number[]; values: Float32Array }
  | { status: 'error'; version: number; message: string };

/** Which way hovering a token reads a head's attention pattern. */
export type AttentionDirection = 'query' | 'key';

/** The head whose attention tints the token chips when one is hovered. */
export interface AttentionView {
  layer: number;
  head: number;
  /** 'query': the hovered token attends to the others; 'key': the others attend to it. */
  direction: AttentionDirection;
}

/** What this viewer looks at: local, never sent (the session state is the shared part). */
export interface ViewState {
  selectedNode: string | null;
  /** Position whose top-k is shown; null: the last one. */
  selectedPosition: number | null;
  folded: number[];
  hiddenKinds: NodeKind[];
  attention: AttentionView;
  /** The logit-lens cell whose full top-k is shown: a lens row such as L3.resid_pre. */
  lensCell: { row: string; position: number } | null;
  /** The first position of the lens window shown; null: the window the run sends (the last). */
  lensStart: number | null;
  /** The node a patch is being dragged from (greys out incompatible targets). */
  patchSource: string | null;
  /** The prompt a dragged patch copies from; '' means the session's prompt. */
  patchPrompt: string;
  /** Nodes picked together (shift-click, or a box dragged with shift): one change acts on all. */
  picked: string[];
  /** Tint the graph's nodes by the last activation patching sweep's scores. */
  tintBySweep: boolean;
  /** Draw the head composition edges scoring at least this on the graph; null: none. */
  compositionThreshold: number | null;
  /** Draw the edge attribution edges whose |score| is at least this on the graph; null: none. */
  circuitThreshold: number | null;
}

/** How far a long tool has got, and the task id that cancels it. */
export interface ToolProgress {
  taskId: string;
  done: number;
  total: number;
  label: string;
}

/** A tool's answer, tagged with the run it belongs to. */
export type ToolAnswer<K extends ToolName = ToolName> =
  | { status: 'loading'; runVersion: number; progress?: ToolProgress }
  | { status: 'ready'; runVersion: number; result: ToolResults[K] }
  | { status: 'error'; runVersion: number; message: string };

/** `tools[key]` as the answer of tool `K` (the key was watched with that tool). */
export function toolAnswer<K extends ToolName>(snap: CanvasSnapshot, key: string): ToolAnswer<K> | null {
  return (snap.tools[key] as ToolAnswer<K> | undefined) ?? null;
}

export interface CanvasSnapshot {
  connection: Connection;
  /** JupyterLab's kernel status (idle, busy, restarting...), or "unknown". */
  kernelStatus: string;
  clientId: string | null;
  /** The session the state, runs and answers belong to (a new one resets them). */
  sessionId: string;
  version: number | null;
  state: SessionState | null;
  graph: GraphSpec | null;
  run: RunSummary | null;
  /** The prompt box's text while an edit is unsent or unanswered; null: show the state's. */
  promptDraft: string | null;
  /** The last error the server sent (cleared by the next accepted change of ours). */
  error: ErrorMessage | null;
  nodeData: Readonly<Record<string, NodeData>>;
  /** Tool answers by key: after-run tools under their name, watched calls under their key. */
  tools: Readonly<Record<string, ToolAnswer>>;
  /** Changes of ours sent but not yet confirmed by the kernel (a busy kernel answers late). */
  pending: readonly PendingChange[];
  /** A move or cast of the model that this view asked for, until its answer. */
  moving: MoveProgress | null;
  view: ViewState;
}

/** A change sent and not yet answered: shown on its node and in the interventions list. */
export interface PendingChange {
  requestId: string;
  op: Operation;
  /** The nodes it acts on (for the sign on each). */
  nodes: string[];
}

/** A canvas before it has heard from the kernel. */
export function initialSnapshot(): CanvasSnapshot {
  return {
    connection: { kind: 'connecting' },
    kernelStatus: 'unknown',
    clientId: null,
    sessionId: '',
    version: null,
    state: null,
    graph: null,
    run: null,
    promptDraft: null,
    error: null,
    nodeData: {},
    tools: {},
    pending: [],
    moving: null,
    view: {
      selectedNode: null,
      selectedPosition: null,
      folded: [],
      hiddenKinds: [],
      attention: { layer: 0, head: 0, direction: 'query' },
      lensCell: null,
      lensStart: null,
      patchSource: null,
      patchPrompt: '',
      picked: [],
      tintBySweep: false,
      compositionThreshold: null,
      circuitThreshold: null
    }
  };
}

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;
export type Operation = DistributiveOmit<ClientMessage, 'request_id' | 'v'>;

export interface StoreOptions {
  debounceMs?: number;
  backoffMs?: number;
  maxBackoffMs?: number;
  /** How often to look again while the kernel has no session. */
  pollMs?: number;
}

export const nodeDataKey = (node: string, what: NodeDataKind): string => `${node}:${what}`;

/** What the canvas shows for a node, as the kernel's graph says (a head's or layer's attention
 * pattern, else the activation norm per position); null for nodes without an activation. */
export function nodeDataFor(node: GraphNode | undefined): NodeDataKind | null {
  return node?.shows ?? null;
}

export function activePrompt(state: SessionState | null): string {
  const prompts = state?.prompts ?? [];
  return prompts[state?.active ?? 0] ?? '';
}

/** What a many-node change does to each picked node. */
export type GroupAction = 'zero' | 'mean' | 'resample' | 'isolate' | 'freeze' | 'patch';

/** One whole-node intervention of `action` on each node it fits (isolate: heads; the rest:
 * targetable nodes), in one list for one change. A patch is same-site: each node's value on
 * `patchPrompt`. */
export function groupInterventions(
  nodes: (GraphNode | undefined)[],
  action: GroupAction,
  prompt: string,
  patchPrompt: string
): Intervention[] {
  const fits = nodes.filter((n): n is GraphNode => !!n && n.targetable && (action !== 'isolate' || n.kind === 'head'));
  return fits.map(n => {
    const base = { node: n.id, positions: null, id: '' };
    switch (action) {
      case 'isolate':
        return { ...base, kind: 'isolate', method: 'zero' };
      case 'freeze':
        return { ...base, kind: 'freeze', prompt };
      case 'patch':
        return { ...base, kind: 'patch', source: n.id, source_prompt: patchPrompt || prompt };
      default:
        return { ...base, kind: 'ablate', method: action };
    }
  });
}

/** What a node's toolbar can toggle (whole-node, all positions). */
export type Action = 'zero' | 'mean' | 'resample' | 'isolate' | 'freeze';

/** The whole-node intervention on `node` that `action` adds, if the state has it. */
export function interventionOf(state: SessionState | null, node: string, action: Action): Intervention | undefined {
  return (state?.interventions ?? []).find(i => i.node === node && isWholeNode(i, action));
}

/** The nodes whose output `i` replaces: its own node, or for an isolate every other head of
 * the layer (the isolated head is the one kept); none for a patch (drawn as its own edge). */
export function replacedNodes(i: Intervention, nHeads: number): string[] {
  if (i.kind === 'patch') {
    return [];
  }
  const head = /^L(\d+)\.H(\d+)$/.exec(i.node);
  if (i.kind !== 'isolate' || !head) {
    return [i.node];
  }
  return Array.from({ length: nHeads }, (_, h) => `L${head[1]}.H${h}`).filter(id => id !== i.node);
}

/** Whether `i` is the whole-node (all positions) intervention that `action` adds. */
export function isWholeNode(i: Intervention, action: Action): boolean {
  if (i.positions && i.positions.length > 0) {
    return false;
  }
  return i.kind === 'ablate' ? (i.method ?? 'zero') === action : i.kind === action;
}

/** The whole-node zero ablation of `node`, if the state has one. */
export function zeroAblationOf(state: SessionState | null, node: string): Intervention | undefined {
  return interventionOf(state, node, 'zero');
}

/** Node kinds whose graph node has a zero-ablate (⊘) button. */
export const ABLATABLE: ReadonlySet<string> = new Set(['head', 'attn', 'mlp']);

/** The nodes an operation acts on, as far as the canvas marks them pending. */
export function nodesOf(op: Operation, state: SessionState | null): string[] {
  switch (op.op) {
    case 'add_intervention':
      return [op.intervention.node];
    case 'add_interventions':
      return op.interventions.map(i => i.node);
    case 'remove_intervention':
      return (state?.interventions ?? []).filter(i => i.id === op.id).map(i => i.node);
    case 'clear_interventions':
      return (state?.interventions ?? []).map(i => i.node);
    default:
      return [];
  }
}

/** Operations that change the shared state: pending until the kernel says it took them. */
export const CHANGES: ReadonlySet<string> = new Set([
  'set_prompts',
  'select_prompt',
  'set_reference',
  'set_pairs',
  'set_metric',
  'add_intervention',
  'add_interventions',
  'remove_intervention',
  'clear_interventions',
  'set_note'
]);

/** Why `source` cannot be patched into `target` (null: it can). */
export function patchProblem(source: GraphNode | undefined, target: GraphNode | undefined): string | null {
  if (!source || !target) {
    return 'drop the patch on a node of the graph';
  }
  for (const node of [source, target]) {
    if (!node.targetable) {
      return `${node.id} is a ${node.kind} node: patches go between heads, attention layers, MLPs, residual and embedding nodes`;
    }
  }
  if (!patchCompatible(source, target)) {
    return `${source.id} gives ${shapeText(source)} per position and ${target.id} takes ${shapeText(target)}: a patch needs the same shape (a head into a head, a layer output into a residual node)`;
  }
  return null;
}

function shapeText(node: GraphNode): string {
  return `[${node.shape.filter(d => typeof d === 'number').join(', ')}]`;
}

/** Whether `source`'s activation can be patched into `target`: both are targetable (the
 * kernel says which nodes are), with the same shape (so the same value per position). A node
 * into itself is the most common patch there is: its value from another prompt. */
export function patchCompatible(source: GraphNode | undefined, target: GraphNode | undefined): boolean {
  if (!source || !target || !source.targetable || !target.targetable) {
    return false;
  }
  return JSON.stringify(source.shape) === JSON.stringify(target.shape);
}

/**
 * Token positions typed by a user: "" is every position (null); otherwise numbers and ranges
 * separated by commas or spaces ("0, 3-5", "-1"), sorted without repeats.
 */
export function parsePositions(text: string): { positions: number[] | null } | { error: string } {
  const parts = text.split(/[\s,]+/).filter(Boolean);
  if (parts.length === 0) {
    return { positions: null };
  }
  const found = new Set<number>();
  for (const part of parts) {
    const range = /^(\d+)-(\d+)$/.exec(part);
    if (range) {
      const [from, to] = [Number(range[1]), Number(range[2])];
      if (to < from || to - from > 4096) {
        return { error: `"${part}" is not a range from low to high` };
      }
      for (let p = from; p <= to; p++) {
        found.add(p);
      }
    } else if (/^-?\d+$/.test(part)) {
      found.add(Number(part));
    } else {
      return { error: `"${part}" is not a position: use numbers like 0, 3-5 or -1` };
    }
  }
  return { positions: [...found].sort((a, b) => a - b) };
}

const byIdCache = new WeakMap<GraphSpec, Map<string, GraphNode>>();

/** The graph's nodes by id (built once per graph). */
export function nodesById(graph: GraphSpec): ReadonlyMap<string, GraphNode> {
  let byId = byIdCache.get(graph);
  if (!byId) {
    byId = new Map(graph.nodes.map(n => [n.id, n] as const));
    byIdCache.set(graph, byId);
  }
  return byId;
}

/** One node of the graph, if both are there. */
export function nodeById(graph: GraphSpec | null, id: string | null): GraphNode | undefined {
  return graph && id !== null ? nodesById(graph).get(id) : undefined;
}

const largestDla = new WeakMap<RunSummary, number>();

/** A head's direct logit attribution in `run`; null without a run or for a head the run does
 * not have. */
export function headDla(run: RunSummary | null, layer: number, head: number): number | null {
  return run?.head_dla[layer]?.[head] ?? null;
}

/** The largest |direct logit attribution| of any head in `run` (a badge's shade is its share
 * of it), computed once per run. */
export function largestHeadDla(run: RunSummary | null): number {
  if (!run) {
    return 1;
  }
  let largest = largestDla.get(run);
  if (largest === undefined) {
    largest = Math.max(1e-9, ...run.head_dla.flat().map(Math.abs));
    largestDla.set(run, largest);
  }
  return largest;
}
