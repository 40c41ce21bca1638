/**
 * The canvas's DOM-free model: one kernel's session as the server last said it was.
 *
 * Invariant 2: the session state and its version change only when a server message says so
 * (`state` on connect, `changed` after any accepted operation, ours included); operations go out
 * with a request id and nothing is applied locally. The prompt box keeps a local draft while an
 * edit is unsent or unanswered (debounced; the latest edit wins). Connecting, reconnecting with
 * backoff and "no session" are SessionConnection's (connection.ts).
 */
import type {
  ErrorMessage,
  Experiment,
  ExperimentDiff,
  HookInfo,
  Intervention,
  Metric,
  NodeDataKind,
  NodeKind,
  PatchingResult,
  PromptPair,
  ServerMessage,
  ToolArgs,
  ToolName
} from '../protocol.generated';
import { LENS_WINDOW } from '../protocol.generated';
import { SessionConnection } from './connection';
import {
  Action,
  AttentionView,
  CHANGES,
  CanvasSnapshot,
  GroupAction,
  Operation,
  StoreOptions,
  ViewState,
  activePrompt,
  groupInterventions,
  initialSnapshot,
  interventionOf,
  nodeById,
  nodesOf,
  patchProblem
} from './model';
import { SweepCell, cellPatch } from './patchingGrid';
import { moveProgressOf } from './placement';
import { ToolRequests } from './toolRequests';
import { Transport } from './transport';

export * from './model';

/** Where the selected lens cell's and the chosen lens window's answers land in `tools`. */
export const LENS_CELL = 'lens_cell';
export const LENS_WINDOW_KEY = 'lens_window';
/** Where the canvas's run of every prompt, and its patching sweep, land in `tools`. */
export const PROMPT_BATCH_KEY = 'prompt_batch';
export const PATCHING_KEY = 'activation_patching';
export const ATTRIBUTION_KEY = 'attribution_patching';
export const TRACING_KEY = 'causal_tracing';
export const COMPOSITION_KEY = 'head_composition';
export const RESIDUAL_KEY = 'residual_stream';
export const EDGES_KEY = 'edge_attribution';
export const CIRCUIT_KEY = 'circuit';


export class CanvasStore {
  private _snap: CanvasSnapshot = initialSnapshot();
  private readonly _listeners = new Set<() => void>();
  private readonly _focusListeners = new Set<(node: string) => void>();
  private readonly _options: Required<StoreOptions>;
  private readonly _conn: SessionConnection;
  private _promptTimer: ReturnType<typeof setTimeout> | null = null;
  private _promptUnsent = false;
  private _promptRequest: string | null = null;
  private _requests = 0;
  private readonly _data: ToolRequests;
  private _disposed = false;

  constructor(
    private readonly _transport: Transport,
    options: StoreOptions = {}
  ) {
    this._options = { debounceMs: 200, backoffMs: 250, maxBackoffMs: 8000, pollMs: 5000, ...options };
    this._data = new ToolRequests({
      snapshot: () => this._snap,
      send: op => this.send(op),
      set: patch => this._set(patch)
    });
    this._conn = new SessionConnection(_transport, this._options, {
      // "No session" says it all: drop the error frame that announced it.
      status: connection => this._set(connection.kind === 'no_session' ? { connection, error: null } : { connection }),
      graph: graph => this._set({ graph }),
      message: data => this._receive(data)
    });
  }

  get snapshot(): CanvasSnapshot {
    return this._snap;
  }

  /** For React's useSyncExternalStore: `fn` runs after every new snapshot. */
  subscribe = (fn: () => void): (() => void) => {
    this._listeners.add(fn);
    return () => this._listeners.delete(fn);
  };

  getSnapshot = (): CanvasSnapshot => this._snap;

  get isDisposed(): boolean {
    return this._disposed;
  }

  /** Fetch the graph, then open the websocket. */
  start(): void {
    this._conn.start();
  }

  /** Try again now (kernel went idle, or the user asked), unless already live. */
  retry(): void {
    this._conn.retry();
  }

  /** JupyterLab's kernel status: shown, and a restart or idle moves the connection. */
  setKernelStatus(status: string): void {
    if (status === this._snap.kernelStatus) {
      return;
    }
    this._set({ kernelStatus: status });
    this._conn.kernelStatus(status);
  }

  dispose(): void {
    if (this._disposed) {
      return;
    }
    this._disposed = true;
    if (this._promptTimer !== null) {
      clearTimeout(this._promptTimer);
    }
    this._conn.dispose();
    this._listeners.clear();
  }

  // ---- operations ------------------------------------------------------------------------
  /** Send one operation; returns its request id, or null when not connected (nothing sent). */
  send(op: Operation): string | null {
    const socket = this._conn.socket;
    if (!socket) {
      return null;
    }
    const requestId = `r${++this._requests}`;
    socket.send(JSON.stringify({ ...op, request_id: requestId }));
    if (this._snap.error !== null) {
      this._set({ error: null }); // the banner tells of the last thing done: this replaces it
    }
    if (CHANGES.has(op.op)) {
      const change = { requestId, op, nodes: nodesOf(op, this._snap.state) };
      this._set({ pending: [...this._snap.pending, change] });
    }
    return requestId;
  }

  /** A keystroke in the prompt box: shown at once, sent once edits pause (the latest wins). */
  editPrompt(text: string): void {
    this._promptUnsent = true;
    this._set({ promptDraft: text });
    if (this._promptTimer !== null) {
      clearTimeout(this._promptTimer);
    }
    this._promptTimer = setTimeout(() => this._flushPrompt(), this._options.debounceMs);
  }

  /** Zero-ablate `node` (all positions), or remove that ablation if the state has it. */
  toggleAblation(node: string): string | null {
    return this.toggle(node, 'zero');
  }

  /** Add the intervention `action` on the whole node, or remove it if the state has it. With
   * `positions`, add it at those positions only (the interventions list removes it). */
  toggle(node: string, action: Action, positions: number[] | null = null): string | null {
    const existing = positions ? undefined : interventionOf(this._snap.state, node, action);
    if (existing?.id) {
      return this.send({ op: 'remove_intervention', id: existing.id });
    }
    const base = { node, positions, id: '' };
    const intervention: Intervention =
      action === 'isolate'
        ? { ...base, kind: 'isolate', method: 'zero' }
        : action === 'freeze'
          ? { ...base, kind: 'freeze', prompt: activePrompt(this._snap.state) }
          : { ...base, kind: 'ablate', method: action };
    return this.send({ op: 'add_intervention', intervention });
  }

  /** Patch `source`'s activation (on the patch prompt) into `target`, if their shapes match;
   * else the banner says why. */
  addPatch(source: string, target: string): string | null {
    const graph = this._snap.graph;
    const problem = patchProblem(nodeById(graph, source), nodeById(graph, target));
    if (problem !== null) {
      this._set({ error: { op: 'error', code: 'invalid', message: `Cannot patch ${source} into ${target}: ${problem}.` } });
      return null;
    }
    const prompt = this._snap.view.patchPrompt || activePrompt(this._snap.state);
    const intervention: Intervention = { kind: 'patch', id: '', node: target, positions: null, source, source_prompt: prompt };
    return this.send({ op: 'add_intervention', intervention });
  }

  /** Add several interventions in one change (one version, one run). */
  addMany(interventions: Intervention[]): string | null {
    return interventions.length ? this.send({ op: 'add_interventions', interventions }) : null;
  }

  setMetric(metric: Metric): string | null {
    return this.send({ op: 'set_metric', metric });
  }

  setPairs(pairs: PromptPair[]): string | null {
    return this.send({ op: 'set_pairs', pairs });
  }

  setReferences(prompts: string[]): string | null {
    return this.send({ op: 'set_reference', prompts });
  }

  setPrompts(prompts: string[]): string | null {
    return this.send({ op: 'set_prompts', prompts });
  }

  selectPrompt(index: number): string | null {
    return this.send({ op: 'select_prompt', index });
  }

  /** Run one prompt of `pair` and patch from the other: "corrupt" runs the corrupt prompt and
   * copies activations from the clean one (what restores the answer), "clean" the reverse. */
  usePair(pair: PromptPair, run: 'clean' | 'corrupt'): string | null {
    this._setView({ patchPrompt: run === 'corrupt' ? pair.clean : pair.corrupt });
    const prompt = run === 'corrupt' ? pair.corrupt : pair.clean;
    return prompt === activePrompt(this._snap.state) ? null : this.send({ op: 'set_prompt', prompt });
  }

  /** Run every prompt of the session, with progress; its rows land in tools[PROMPT_BATCH_KEY]. */
  runBatch(): void {
    this._data.callLong(PROMPT_BATCH_KEY, 'prompt_batch', {});
  }

  /** Run an activation patching sweep (progress, cancel); it lands in tools[PATCHING_KEY]. */
  runPatching(args: ToolArgs['activation_patching']): void {
    this.runTool(PATCHING_KEY, 'activation_patching', args);
  }

  /** Call a tool once (a long one with progress and cancel); its answer lands in tools[key]. */
  runTool<K extends ToolName>(key: string, tool: K, args: ToolArgs[K]): void {
    this._data.callLong(key, tool, args);
  }

  /** Add the patch a sweep cell stands for, on the pair's corrupt prompt (set first when the
   * canvas shows another), with later patches copying from the clean one. */
  patchCell(result: PatchingResult, cell: SweepCell): string | null {
    const intervention = cellPatch(result, cell);
    if (intervention === null) {
      const message = `A ${result.sweep} cell has no node patch to add: the graph patches node outputs (residual, attention, MLP, heads).`;
      this._set({ error: { op: 'error', code: 'invalid', message } });
      return null;
    }
    this._setView({ patchPrompt: result.pair.clean });
    if (activePrompt(this._snap.state) !== result.pair.corrupt) {
      this.send({ op: 'set_prompt', prompt: result.pair.corrupt });
    }
    return this.send({ op: 'add_intervention', intervention });
  }

  /** Move the model to `device` and/or cast it to `dtype` (null: as it is); progress in `moving`. */
  moveModel(device: string | null, dtype: string | null): string | null {
    const requestId = this.send({ op: 'move_model', device, dtype });
    this._set({ moving: requestId === null ? null : { requestId, taskId: null, done: 0, total: 1, label: '' } });
    return requestId;
  }

  /** Stop a long tool by its task id (its partial result or an error comes back). */
  cancel(taskId: string): void {
    this.send({ op: 'cancel', task_id: taskId });
  }

  /** Ask for a node's tensor (binary, float16); the answer lands in snapshot.nodeData. */
  requestNodeData(node: string, what: NodeDataKind): void {
    this._data.requestNodeData(node, what);
  }

  /** The kernel app's API docs page (Swagger UI, through the proxy), when the transport has one. */
  get docsUrl(): string | undefined {
    return this._transport.docsUrl;
  }

  /** The session as plain TransformerLens code (GET api/code). */
  fetchCode(): Promise<string> {
    return this._transport.getText('code');
  }

  /** Every hook on the live model, a cell's included (GET api/hooks). */
  async fetchHooks(): Promise<HookInfo[]> {
    return (await this._transport.getJSON('hooks')) as HookInfo[];
  }

  /** Remove the hooks Transpector does not own (DELETE api/hooks/foreign); how many went. */
  async resetForeignHooks(): Promise<number> {
    const answer = (await this._transport.deleteJSON('hooks/foreign')) as { removed: number };
    return answer.removed;
  }

  /** The current view as one self-contained HTML file (GET api/export.html); on failure the
   * banner says why and null comes back. */
  async exportView(): Promise<string | null> {
    try {
      return await this._transport.getText('export.html');
    } catch (error) {
      const message = `Export failed: ${error instanceof Error ? error.message : String(error)}`;
      this._set({ error: { op: 'error', code: 'unavailable', message } });
      return null;
    }
  }

  /** Every saved experiment in full (GET api/experiments). */
  async fetchExperiments(): Promise<Experiment[]> {
    return (await this._transport.getJSON('experiments')) as Experiment[];
  }

  /** What differs between two saved experiments (GET api/experiments/diff). */
  async fetchExperimentDiff(a: string, b: string): Promise<ExperimentDiff> {
    const query = `experiments/diff?a=${encodeURIComponent(a)}&b=${encodeURIComponent(b)}`;
    return (await this._transport.getJSON(query)) as ExperimentDiff;
  }

  // ---- view state (local) ----------------------------------------------------------------
  /** Select a node; a head also becomes the one whose attention tints the tokens. */
  selectNode(node: string | null): void {
    const picked = nodeById(this._snap.graph, node);
    const attention =
      picked?.kind === 'head' && picked.layer !== null && picked.layer !== undefined && picked.head !== null && picked.head !== undefined
        ? { ...this._snap.view.attention, layer: picked.layer, head: picked.head }
        : this._snap.view.attention;
    this._setView({ selectedNode: node, attention });
    this._data.refreshSelected();
  }

  /** Select a node and have the graph pane bring it into sight (unfolded, shown, centred), as
   * its Find does: a card's click that jumps to a node. */
  focusNode(node: string): void {
    this.selectNode(node);
    this._focusListeners.forEach(fn => fn(node));
  }

  /** The graph pane listens here for `focusNode`'s nodes to centre. */
  onFocusNode = (fn: (node: string) => void): (() => void) => {
    this._focusListeners.add(fn);
    return () => this._focusListeners.delete(fn);
  };

  /** Choose the head (or direction) whose attention tints the tokens. */
  setAttention(patch: Partial<AttentionView>): void {
    this._setView({ attention: { ...this._snap.view.attention, ...patch } });
  }

  /** A token is hovered: make sure the chosen head's pattern for this run is here or coming. */
  watchAttention(): void {
    const { layer, head } = this._snap.view.attention;
    this._data.fetchIfStale(`L${layer}.H${head}`, 'pattern');
  }

  /** Show one logit-lens cell's top-k (asked of the kernel after every run); null hides it. */
  selectLensCell(cell: { row: string; position: number } | null): void {
    this._setView({ lensCell: cell });
    this._data.watch(LENS_CELL, 'lens_top_k', cell && { row: cell.row, position: cell.position, k: 10 });
  }

  /** Show the lens from position `start` (a window of LENS_WINDOW, asked of the kernel after
   * every run); null shows the window every run sends (the last positions). */
  setLensStart(start: number | null): void {
    this._setView({ lensStart: start });
    const end = Math.min((start ?? 0) + LENS_WINDOW, this._snap.run?.tokens.length ?? 0);
    const positions = start === null ? null : Array.from({ length: Math.max(end - start, 1) }, (_, i) => start + i);
    this._data.watch(LENS_WINDOW_KEY, 'logit_lens', positions && { positions });
  }

  /** Keep tools[key] filled with `tool(args)` for every run (null: stop). */
  watchTool<K extends ToolName>(key: string, tool: K, args: ToolArgs[K] | null): void {
    this._data.watch(key, tool, args);
  }

  /** Keep the residual stream's decomposition at `position` for every run (null: stop). */
  watchResidual(position: number | null): void {
    this._data.watch(RESIDUAL_KEY, 'residual_stream', position === null ? null : { positions: [position] });
  }

  /** Draw the composition edges scoring at least `threshold` on the graph (null: none). */
  setCompositionThreshold(threshold: number | null): void {
    this._setView({ compositionThreshold: threshold });
  }

  /** Draw the edge attribution edges with |score| at least `threshold` (null: none). */
  setCircuitThreshold(threshold: number | null): void {
    this._setView({ circuitThreshold: threshold });
  }

  setTintBySweep(on: boolean): void {
    this._setView({ tintBySweep: on });
  }

  /** Add `node` to the picked nodes, or take it out. */
  togglePicked(node: string): void {
    const picked = this._snap.view.picked;
    this._setView({ picked: picked.includes(node) ? picked.filter(n => n !== node) : [...picked, node] });
  }

  setPicked(nodes: string[]): void {
    this._setView({ picked: [...new Set(nodes)] });
  }

  /** One change for every picked node it fits (one version, one run); the picking stays. */
  actOnPicked(action: GroupAction): string | null {
    const { graph, state, view } = this._snap;
    const nodes = view.picked.map(id => nodeById(graph, id));
    return this.addMany(groupInterventions(nodes, action, activePrompt(state), view.patchPrompt));
  }

  /** A patch drag started (null: it ended). */
  setPatchSource(node: string | null): void {
    this._setView({ patchSource: node });
  }

  setPatchPrompt(text: string): void {
    this._setView({ patchPrompt: text });
  }

  selectPosition(position: number | null): void {
    this._setView({ selectedPosition: position });
    if (this._snap.tools[RESIDUAL_KEY]) {
      this.watchResidual(position ?? -1);
    }
  }

  toggleFold(layer: number): void {
    const folded = this._snap.view.folded;
    this._setView({
      folded: folded.includes(layer) ? folded.filter(l => l !== layer) : [...folded, layer].sort((a, b) => a - b)
    });
  }

  setFolded(layers: number[]): void {
    this._setView({ folded: [...layers] });
  }

  toggleKind(kind: NodeKind): void {
    const hidden = this._snap.view.hiddenKinds;
    this._setView({ hiddenKinds: hidden.includes(kind) ? hidden.filter(k => k !== kind) : [...hidden, kind] });
  }

  dismissError(): void {
    this._set({ error: null });
  }

  // ---- server messages ---------------------------------------------------------------------
  private _receive(data: string | ArrayBuffer): void {
    if (typeof data !== 'string') {
      this._data.receiveTensor(data);
      return;
    }
    let message: ServerMessage;
    try {
      message = JSON.parse(data) as ServerMessage;
    } catch {
      return;
    }
    switch (message.op) {
      case 'state': {
        this._conn.live();
        // Another session (a restarted kernel, another model attached): its versions start
        // again, so nothing derived from the old one (run, lens, tool answers) may stay.
        const sessionId = message.session_id ?? '';
        const fresh = sessionId !== this._snap.sessionId;
        this._set({
          clientId: message.client_id,
          sessionId,
          version: message.version,
          state: message.state,
          nodeData: {},
          error: null,
          pending: [], // the state says what came of them
          ...(fresh ? { run: null, tools: {} } : {})
        });
        this._data.connected();
        if (this._promptRequest !== null) {
          this._promptRequest = null; // its answer was lost with the old connection: send again
          this._promptUnsent = true;
        }
        this._settleDraft();
        if (this._promptUnsent && this._promptTimer === null) {
          this._flushPrompt();
        }
        break;
      }
      case 'changed':
        if (this._snap.version !== null && message.version <= this._snap.version) {
          break;
        }
        if (message.by === this._snap.clientId && message.request_id === this._promptRequest) {
          this._promptRequest = null;
        }
        if (message.by === this._snap.clientId) {
          this._settle(message.request_id ?? '');
        }
        this._set({
          version: message.version,
          state: message.state,
          error: message.by === this._snap.clientId ? null : this._snap.error
        });
        this._settleDraft();
        break;
      case 'run_summary':
        if ((message.session_id ?? '') !== this._snap.sessionId) {
          break; // a run of a session this view has left
        }
        if (!this._snap.run || message.version >= this._snap.run.version) {
          this._set({ run: message });
          this._data.refreshSelected();
          this._data.refresh();
        }
        break;
      case 'tool_result':
        this._data.receiveTool(message);
        break;
      case 'progress': {
        const moving = moveProgressOf(this._snap.moving, message);
        if (moving) {
          this._set({ moving });
          break;
        }
        this._data.receiveProgress(message);
        break;
      }
      case 'placed':
        this._set({ moving: null });
        break;
      case 'error':
        this._receiveError(message);
        break;
      default:
        break;
    }
  }

  /** An error goes to the card that asked (node data, lens cell), else to the banner. */
  private _receiveError(message: ErrorMessage): void {
    this._settle(message.request_id ?? '');
    if (message.request_id && message.request_id === this._snap.moving?.requestId) {
      this._set({ moving: null }); // the move failed or was cancelled: the banner says where it is
    }
    if (this._data.receiveError(message)) {
      return;
    }
    if (message.request_id && message.request_id === this._promptRequest) {
      this._promptRequest = null; // the draft stays, so the user can fix it
    }
    this._set({ error: message });
  }

  /** A change of ours was answered (taken or refused): it is no longer pending. */
  private _settle(requestId: string): void {
    if (requestId && this._snap.pending.some(p => p.requestId === requestId)) {
      this._set({ pending: this._snap.pending.filter(p => p.requestId !== requestId) });
    }
  }

  // ---- prompt draft ------------------------------------------------------------------------
  private _flushPrompt(): void {
    this._promptTimer = null;
    const text = this._snap.promptDraft;
    if (text === null) {
      this._promptUnsent = false;
      return;
    }
    const requestId = this.send({ op: 'set_prompt', prompt: text });
    if (requestId !== null) {
      this._promptUnsent = false;
      this._promptRequest = requestId;
    }
  }

  /** Drop the draft once nothing of ours is in flight and the state caught up. */
  private _settleDraft(): void {
    if (this._promptUnsent || this._promptRequest !== null || this._snap.promptDraft === null) {
      return;
    }
    this._set({ promptDraft: null });
  }

  // ---- snapshots -----------------------------------------------------------------------------
  private _set(patch: Partial<CanvasSnapshot>): void {
    if (this._disposed) {
      return;
    }
    this._snap = { ...this._snap, ...patch };
    for (const fn of [...this._listeners]) {
      fn();
    }
  }

  private _setView(patch: Partial<ViewState>): void {
    this._set({ view: { ...this._snap.view, ...patch } });
  }
}
