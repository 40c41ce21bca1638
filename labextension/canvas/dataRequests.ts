/**
 * What the canvas asks the kernel for on demand, beside the shared state: node tensors (binary
 * frames) and one logit-lens cell's top-k. Each answer is stamped with the run it was asked
 * after, so a newer run asks again (once); an error goes to the card that asked, not the banner.
 */
import type { ErrorMessage, LensTopK, NodeDataKind } from '../protocol.generated';
import { decodeTensorFrame } from './binary';
import { CanvasSnapshot, NodeData, Operation, nodeById, nodeDataFor, nodeDataKey } from './model';

/** The store, as these requests see it. */
export interface RequestHost {
  snapshot(): CanvasSnapshot;
  send(op: Operation): string | null;
  set(patch: Partial<CanvasSnapshot>): void;
}

export class DataRequests {
  /** request id -> the node data it asks for, and the run it was asked after */
  private readonly _nodes = new Map<string, { key: string; version: number }>();
  private _lens: string | null = null;

  constructor(private readonly _host: RequestHost) {}

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

  /** The lens cell changed (or was closed): forget the answer on its way, ask anew. */
  restartLensCell(): void {
    this._lens = null;
    this._host.set({ lensCell: null });
    this.requestLensCell();
  }

  /** A new connection: answers asked on the old one will not come. */
  connected(): void {
    this._lens = null;
    if (this._host.snapshot().lensCell?.status === 'loading') {
      this._host.set({ lensCell: null });
    }
    this.requestLensCell();
  }

  /** Ask for the selected lens cell's top-k unless this run's answer is here or coming. */
  requestLensCell(): void {
    const { view, run, lensCell: current } = this._host.snapshot();
    const cell = view.lensCell;
    if (!cell || !run || this._lens !== null || (current && current.runVersion >= run.version)) {
      return;
    }
    if (cell.position >= run.tokens.length) {
      // The prompt got shorter than the cell's position: nothing to ask (the card says so).
      this._host.set({ lensCell: { status: 'error', runVersion: run.version, message: `the prompt has ${run.tokens.length} tokens now` } });
      return;
    }
    this._lens = this._host.send({ op: 'lens_top_k', layer: cell.layer, position: cell.position, k: 10 });
    if (this._lens !== null) {
      this._host.set({ lensCell: { status: 'loading', runVersion: run.version } });
    }
  }

  receiveLens(message: LensTopK): void {
    if (message.request_id !== this._lens) {
      return; // an answer for a cell no longer selected
    }
    this._lens = null;
    const runVersion = this._host.snapshot().lensCell?.runVersion ?? -1;
    this._host.set({ lensCell: { status: 'ready', runVersion, topK: message.top_k } });
    this.requestLensCell(); // a run may have come meanwhile
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

  /** True when the error answers a request made here (its card shows it). */
  receiveError(message: ErrorMessage): boolean {
    const id = message.request_id ?? '';
    const asked = id ? this._nodes.get(id) : undefined;
    if (asked !== undefined) {
      this._nodes.delete(id);
      this._setNodeData(asked.key, { status: 'error', version: asked.version, message: message.message });
      return true;
    }
    if (id && id === this._lens) {
      this._lens = null;
      const runVersion = this._host.snapshot().lensCell?.runVersion ?? -1;
      this._host.set({ lensCell: { status: 'error', runVersion, message: message.message } });
      return true;
    }
    return false;
  }

  private _setNodeData(key: string, value: NodeData): void {
    this._host.set({ nodeData: { ...this._host.snapshot().nodeData, [key]: value } });
  }
}
