/**
 * What the canvas store needs from the outside world: two HTTP reads and one websocket, all
 * relative to one kernel's proxied app. The real one is kernelTransport.ts; tests use fakes.
 */

/** A non-2xx answer; 503 means the kernel has no session (or its app is gone). */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    /** The error body's `code` when it had one ("unreachable": the server cannot reach the
     * kernel's app; the comm transport can). */
    readonly code = ''
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

/** A websocket, reduced to what the store uses (text frames out; text or binary in). */
export interface SocketLike {
  onopen: (() => void) | null;
  onmessage: ((data: string | ArrayBuffer) => void) | null;
  onclose: ((code: number, reason: string) => void) | null;
  send(data: string): void;
  close(code?: number, reason?: string): void;
}

export interface Transport {
  /** GET `api/<path>` as JSON; throws HttpError with the server's message. */
  getJSON(path: string): Promise<unknown>;
  /** GET `api/<path>` as text. */
  getText(path: string): Promise<string>;
  /** DELETE `api/<path>`; its JSON answer. */
  deleteJSON(path: string): Promise<unknown>;
  /** Open the app's websocket. */
  connect(): SocketLike;
  /** Where a browser tab shows the app's API docs, when it can. */
  readonly docsUrl?: string;
}

/** The `code` of an error answer's JSON body, or ''. */
export function errorCode(text: string): string {
  try {
    const body = JSON.parse(text) as { code?: unknown };
    return body && typeof body.code === 'string' ? body.code : '';
  } catch {
    return '';
  }
}

/** The message of an error answer: its JSON `message`, else its text, else its status. */
export function errorMessage(text: string, status: number, statusText = ''): string {
  try {
    const body = JSON.parse(text) as { message?: unknown };
    if (body && typeof body.message === 'string') {
      return body.message;
    }
  } catch {
    // not JSON: fall through to the raw text
  }
  return text || `${status} ${statusText}`.trim();
}
