/**
 * The canvas's DOM-free model: what the user can do to one kernel's session (interventions,
 * prompts, tool calls, node data) and the view state that asks the kernel for something. Each
 * action is an operation sent through SessionStore (sessionStore.ts), which keeps the state as
 * the server last said it was; ViewStore (viewStore.ts) holds the snapshot and the local view.
 */
import type {
  Intervention,
  Metric,
  NodeDataKind,
  PatchingResult,
  PromptPair,
  ToolArgs,
  ToolName
} from '../protocol.generated';
import { LENS_WINDOW } from '../protocol.generated';
import {
  Action,
  GroupAction,
  activePrompt,
  groupInterventions,
  interventionOf,
  nodeById,
  patchProblem
} from './model';
import { SweepCell, cellPatch } from './patchingGrid';
import { SessionStore } from './sessionStore';

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


export class CanvasStore extends SessionStore {
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

  /** One change for every picked node it fits (one version, one run); the picking stays. */
  actOnPicked(action: GroupAction): string | null {
    const { graph, state, view } = this._snap;
    const nodes = view.picked.map(id => nodeById(graph, id));
    return this.addMany(groupInterventions(nodes, action, activePrompt(state), view.patchPrompt));
  }

  selectPosition(position: number | null): void {
    this._setView({ selectedPosition: position });
    if (this._snap.tools[RESIDUAL_KEY]) {
      this.watchResidual(position ?? -1);
    }
  }
}
