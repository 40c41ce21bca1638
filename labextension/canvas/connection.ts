/**
 * The lifecycle of one kernel's connection, DOM-free: fetch the graph, open the websocket, and
 * after a close (kernel restart, app gone) try again with backoff; a 503 means "no session"
 * and is looked at again slowly and whenever the kernel goes idle.
 */
import type { GraphSpec } from '../protocol.generated';
import type { Connection } from './model';
import { HttpError, SocketLike, Transport } from './transport';

export interface ConnectionEvents {
  status(connection: Connection): void;
  graph(graph: GraphSpec): void;
  message(data: string | ArrayBuffer): void;
}

export interface ConnectionOptions {
  backoffMs: number;
  maxBackoffMs: number;
  /** How often to look again while the kernel has no session. */
  pollMs: number;
}

const RESTARTING = new Set(['restarting', 'autorestarting', 'starting', 'dead']);

export class SessionConnection {
  private _status: Connection = { kind: 'connecting' };
  private _kernelStatus = 'unknown';
  private _socket: SocketLike | null = null;
  private _generation = 0;
  private _attempt = 0;
  private _timer: ReturnType<typeof setTimeout> | null = null;
  private _disposed = false;
  private _fetching = false; // a graph request is on its way: its answer is awaited, not redone

  constructor(
    private readonly _transport: Transport,
    private readonly _options: ConnectionOptions,
    private readonly _events: ConnectionEvents
  ) {}

  /** The open socket, once the server said hello (see live()). */
  get socket(): SocketLike | null {
    return this._status.kind === 'live' ? this._socket : null;
  }

  start(): void {
    void this._open();
  }

  /** The server's `state` message arrived: the connection is live. */
  live(): void {
    this._attempt = 0;
    this._setStatus({ kind: 'live' });
  }

  /** Try again now (kernel went idle, or the user asked), unless live or connecting. */
  retry(): void {
    const kind = this._status.kind;
    if (this._disposed || this._fetching || kind === 'live' || (kind === 'connecting' && this._socket)) {
      return;
    }
    this._attempt = 0;
    this._clearTimer();
    void this._open();
  }

  /** JupyterLab's kernel status: a restart drops the connection, idle tries again. */
  kernelStatus(status: string): void {
    this._kernelStatus = status;
    if (RESTARTING.has(status)) {
      this._drop('the kernel is restarting');
    } else if (status === 'idle') {
      this.retry();
    }
  }

  dispose(): void {
    this._disposed = true;
    this._clearTimer();
    this._generation++;
    this._socket?.close(1000, 'closed');
    this._socket = null;
  }

  private async _open(): Promise<void> {
    const generation = ++this._generation;
    this._socket?.close(1000, 'reconnecting');
    this._socket = null;
    if (this._status.kind === 'error' || this._status.kind === 'live') {
      this._setStatus({ kind: 'connecting' }); // reconnecting and no_session stay shown
    }
    let graph: GraphSpec;
    this._fetching = true;
    try {
      graph = (await this._transport.getJSON('graph')) as GraphSpec;
    } catch (error) {
      this._fetching = false;
      if (generation === this._generation && !this._disposed) {
        this._failed(error);
      }
      return;
    }
    this._fetching = false;
    if (generation !== this._generation || this._disposed) {
      return;
    }
    this._events.graph(graph);
    const socket = this._transport.connect();
    this._socket = socket;
    socket.onmessage = data => {
      if (generation === this._generation) {
        this._events.message(data);
      }
    };
    socket.onclose = (code, reason) => {
      if (generation === this._generation && !this._disposed) {
        this._socket = null;
        this._drop(reason || `connection closed (${code})`);
      }
    };
  }

  private _failed(error: unknown): void {
    const message = error instanceof Error ? error.message : String(error);
    const status = error instanceof HttpError ? error.status : 0;
    if (status === 503 && RESTARTING.has(this._kernelStatus)) {
      // The app went with the old kernel; look again once the new one is idle.
      this._setStatus({ kind: 'reconnecting', attempt: this._attempt, reason: 'the kernel is restarting' });
      this._schedule(this._options.pollMs);
    } else if (status === 503) {
      this._setStatus({ kind: 'no_session', message });
      this._schedule(this._options.pollMs);
    } else if (status >= 400 && status < 500) {
      this._setStatus({ kind: 'error', message });
    } else {
      this._drop(message);
    }
  }

  /** The connection is gone: say so and try again after a backoff. */
  private _drop(reason: string): void {
    if (this._disposed) {
      return;
    }
    this._generation++;
    this._socket?.close(1000, 'reconnecting');
    this._socket = null;
    this._setStatus({ kind: 'reconnecting', attempt: this._attempt + 1, reason });
    const delay = Math.min(this._options.backoffMs * 2 ** this._attempt, this._options.maxBackoffMs);
    this._attempt++;
    this._schedule(delay);
  }

  private _schedule(delay: number): void {
    this._clearTimer();
    this._timer = setTimeout(() => {
      this._timer = null;
      void this._open();
    }, delay);
  }

  private _clearTimer(): void {
    if (this._timer !== null) {
      clearTimeout(this._timer);
      this._timer = null;
    }
  }

  private _setStatus(status: Connection): void {
    this._status = status;
    this._events.status(status);
  }
}
