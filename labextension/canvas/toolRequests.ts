/**
 * What the canvas asks the kernel for beside the shared state: node tensors (binary frames) and
 * tool results. Every answer is stamped with the run it was asked after. A watched tool call is
 * asked again (once) after every newer run, until it is unwatched; an error goes to the card
 * that asked, not the banner. After-run tools (the logit lens) arrive with every run, unasked,
 * under their tool's name.
 */
import type { ErrorMessage, NodeDataKind, Progress, ToolArgs, ToolName, ToolResult, ToolResults } from '../protocol.generated';
import { decodeTensorFrame } from './binary';
import { CanvasSnapshot, NodeData, Operation, ToolAnswer, nodeById, nodeDataFor, nodeDataKey } from './model';

/** The store, as these requests see it. */
export interface RequestHost {
  snapshot(): CanvasSnapshot;
  send(op: Operation): string | null;
  set(patch: Partial<CanvasSnapshot>): void;
}

interface Watch {
  tool: ToolName;
  args: ToolArgs[ToolName];
  /** The request in flight, and the run it was asked after. */
  requestId: string | null;
  askedFor: number;
  /** Asked once (a long tool), not again after every run. */
  once?: boolean;
}

export class ToolRequests {
  /** request id -> the node data it asks for, and the run it was asked after */
  private readonly _nodes = new Map<string, { key: string; version: number }>();
  /** answer key -> the tool call that fills it */
  private readonly _watches = new Map<string, Watch>();

  constructor(private readonly _host: RequestHost) {}

  // ---- tools -------------------------------------------------------------------------------
  /** Keep `tools[key]` filled with `tool(args)` for the latest run; null args stop it. */
  watch<K extends ToolName>(key: string, tool: K, args: ToolArgs[K] | null): void {
    this._watches.delete(key);
    this._setTool(key, null);
    if (args !== null) {
      this._watches.set(key, { tool, args, requestId: null, askedFor: -1 });
      this.refresh();
    }
  }

  /** Ask again for every watched answer older than the latest run (one request each). */
  refresh(): void {
    const { run, tools } = this._host.snapshot();
    if (!run) {
      return;
    }
    for (const [key, watch] of this._watches) {
      const current = tools[key];
      if (watch.once || watch.requestId !== null || (current && current.runVersion >= run.version)) {
        continue;
      }
      const requestId = this._host.send({ op: 'tool_call', tool: watch.tool, args: watch.args as Record<string, unknown> });
      if (requestId !== null) {
        this._watches.set(key, { ...watch, requestId, askedFor: run.version });
        this._setTool(key, current?.status === 'ready' ? current : { status: 'loading', runVersion: run.version });
      }
    }
  }

  /** Call a long tool once (not after every run): progress lands in `tools[key]` as it comes,
   * then its result (a cancel keeps what it had done, or says it was cancelled). */
  callLong<K extends ToolName>(key: string, tool: K, args: ToolArgs[K]): void {
    const requestId = this._host.send({ op: 'tool_call', tool, args: args as Record<string, unknown> });
    if (requestId === null) {
      return;
    }
    const runVersion = this._host.snapshot().run?.version ?? -1;
    // Not re-asked after later runs: a watch with no args to send again.
    this._watches.set(key, { tool, args, requestId, askedFor: runVersion, once: true });
    this._setTool(key, { status: 'loading', runVersion });
  }

  receiveProgress(message: Progress): void {
    const found = message.request_id ? this._watchOf(message.request_id) : null;
    if (found === null) {
      return; // another client's long tool
    }
    const [key, watch] = found;
    const progress = { taskId: message.task_id, done: message.done, total: message.total, label: message.label ?? '' };
    this._setTool(key, { status: 'loading', runVersion: watch.askedFor, progress });
  }

  receiveTool(message: ToolResult): void {
    const result = message.result as unknown as ToolResults[ToolName];
    if (!message.request_id) {
      // An after-run tool: every client gets it for the run of its version.
      this._setTool(message.tool, { status: 'ready', runVersion: message.version, result });
      return;
    }
    const found = this._watchOf(message.request_id);
    if (found === null) {
      return; // an answer no card waits for any more
    }
    const [key, watch] = found;
    this._watches.set(key, { ...watch, requestId: null });
    this._setTool(key, { status: 'ready', runVersion: watch.askedFor, result });
    this.refresh(); // a run may have come meanwhile
  }

  // ---- node tensors ------------------------------------------------------------------------
  /** Ask for a node's tensor (binary, float16); the answer lands in snapshot.nodeData. */
  requestNodeData(node: string, what: NodeDataKind): void {
    const requestId = this._host.send({ op: 'node_data', node, what, dtype: 'float16' });
    if (requestId === null) {
      return;
    }
    const key = nodeDataKey(node, what);
    const version = this._host.snapshot().run?.version ?? -1;
    this._nodes.set(requestId, { key, version });
    this._setNodeData(key, { status: 'loading', version });
  }

  /** Ask for a node's tensor unless this run's is here or coming. */
  fetchIfStale(node: string, what: NodeDataKind): void {
    const { run, nodeData } = this._host.snapshot();
    if (!run) {
      return;
    }
    const current = nodeData[nodeDataKey(node, what)];
    if (!current || (current.status !== 'loading' && current.version < run.version)) {
      this.requestNodeData(node, what);
    }
  }

  /** The selected node's data for the latest run. */
  refreshSelected(): void {
    const { view, graph } = this._host.snapshot();
    const node = view.selectedNode;
    const what = nodeDataFor(nodeById(graph, node));
    if (node && what) {
      this.fetchIfStale(node, what);
    }
  }

  receiveTensor(buffer: ArrayBuffer): void {
    let tensor;
    try {
      tensor = decodeTensorFrame(buffer);
    } catch (error) {
      this._host.set({ error: { op: 'error', code: 'bad_request', message: String(error) } });
      return;
    }
    const requestId = tensor.header.request_id ?? '';
    const asked = this._nodes.get(requestId);
    this._nodes.delete(requestId);
    this._setNodeData(asked?.key ?? nodeDataKey(tensor.header.node, tensor.header.what), {
      status: 'ready',
      version: asked?.version ?? -1,
      shape: tensor.shape,
      values: tensor.values
    });
    this.refreshSelected(); // an answer for an older run: ask for this run's
  }

  // ---- both --------------------------------------------------------------------------------
  /** A new connection: answers asked on the old one will not come. */
  connected(): void {
    for (const [key, watch] of this._watches) {
      this._watches.set(key, { ...watch, requestId: null });
    }
    const tools = Object.entries(this._host.snapshot().tools).filter(([, answer]) => answer.status !== 'loading');
    this._host.set({ tools: Object.fromEntries(tools) });
    this.refresh();
  }

  /** True when the error answers a request made here (its card shows it). */
  receiveError(message: ErrorMessage): boolean {
    const id = message.request_id ?? '';
    const asked = id ? this._nodes.get(id) : undefined;
    if (asked !== undefined) {
      this._nodes.delete(id);
      this._setNodeData(asked.key, { status: 'error', version: asked.version, message: message.message });
      return true;
    }
    const found = id ? this._watchOf(id) : null;
    if (found !== null) {
      const [key, watch] = found;
      this._watches.set(key, { ...watch, requestId: null });
      this._setTool(key, { status: 'error', runVersion: watch.askedFor, message: message.message });
      return true;
    }
    return false;
  }

  /** The watch (and its key) waiting for `requestId`. */
  private _watchOf(requestId: string): [string, Watch] | null {
    for (const entry of this._watches) {
      if (entry[1].requestId === requestId) {
        return entry;
      }
    }
    return null;
  }

  private _setTool(key: string, value: ToolAnswer | null): void {
    const others = Object.entries(this._host.snapshot().tools).filter(([other]) => other !== key);
    this._host.set({ tools: Object.fromEntries(value === null ? others : [...others, [key, value]]) });
  }

  private _setNodeData(key: string, value: NodeData): void {
    this._host.set({ nodeData: { ...this._host.snapshot().nodeData, [key]: value } });
  }
}
