/**
 * One kernel's session as the server last said it was, and the way to it.
 *
 * Invariant 2: the session state and its version change only when a server message says so
 * (`state` on connect, `changed` after any accepted operation, ours included); operations go out
 * with a request id and nothing is applied locally. The prompt box keeps a local draft while an
 * edit is unsent or unanswered (promptDraft.ts). Connecting, reconnecting with backoff and "no
 * session" are SessionConnection's (connection.ts); tool calls and node data, ToolRequests'.
 */
import type { ErrorMessage, ServerMessage } from '../protocol.generated';
import { SessionConnection } from './connection';
import { KernelReads } from './kernelReads';
import { CHANGES, Operation, StoreOptions, nodesOf } from './model';
import { moveProgressOf } from './placement';
import { PromptDraft } from './promptDraft';
import { ToolRequests } from './toolRequests';
import { Transport } from './transport';
import { ViewStore } from './viewStore';

export class SessionStore extends ViewStore {
  private readonly _options: Required<StoreOptions>;
  private readonly _conn: SessionConnection;
  private readonly _draft: PromptDraft;
  private _requests = 0;
  protected readonly _data: ToolRequests;
  /** REST reads: code, hooks, the export, experiments. */
  readonly reads: KernelReads;

  constructor(
    transport: Transport,
    options: StoreOptions = {}
  ) {
    super();
    this.reads = new KernelReads(transport, error => this._set({ error }));
    this._options = { debounceMs: 200, backoffMs: 250, maxBackoffMs: 8000, pollMs: 5000, ...options };
    this._draft = new PromptDraft(
      {
        draft: () => this._snap.promptDraft,
        setDraft: promptDraft => this._set({ promptDraft }),
        sendPrompt: prompt => this.send({ op: 'set_prompt', prompt })
      },
      this._options.debounceMs
    );
    this._data = new ToolRequests({
      snapshot: () => this._snap,
      send: op => this.send(op),
      set: patch => this._set(patch)
    });
    this._conn = new SessionConnection(transport, this._options, {
      // "No session" says it all: drop the error frame that announced it.
      status: connection => this._set(connection.kind === 'no_session' ? { connection, error: null } : { connection }),
      graph: graph => this._set({ graph }),
      message: data => this._receive(data)
    });
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
    this._draft.dispose();
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
    this._draft.edit(text);
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
          moving: null, // a move's answer may have been lost with the old connection
          ...(fresh ? { run: null, tools: {} } : {})
        });
        this._data.connected();
        this._draft.connected();
        break;
      }
      case 'changed':
        if (this._snap.version !== null && message.version <= this._snap.version) {
          break;
        }
        if (message.by === this._snap.clientId) {
          this._settle(message.request_id ?? '');
        }
        this._set({
          version: message.version,
          state: message.state,
          error: message.by === this._snap.clientId ? null : this._snap.error
        });
        this._draft.changed(message.by === this._snap.clientId ? (message.request_id ?? '') : null);
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
    if (message.request_id) {
      this._draft.refused(message.request_id); // the draft stays, so the user can fix it
    }
    this._set({ error: message });
  }

  /** A change of ours was answered (taken or refused): it is no longer pending. */
  private _settle(requestId: string): void {
    if (requestId && this._snap.pending.some(p => p.requestId === requestId)) {
      this._set({ pending: this._snap.pending.filter(p => p.requestId !== requestId) });
    }
  }
}
