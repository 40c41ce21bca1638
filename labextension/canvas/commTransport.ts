/**
 * The Transport over a Jupyter comm (a notebook widget's): the kernel's CommBridge answers the
 * REST reads in-process and carries the websocket's frames, binary ones as buffers. The same
 * store and views run over it as over the Jupyter server's proxy.
 */
import { HttpError, SocketLike, Transport, errorCode, errorMessage } from './transport';

/** What the transport needs of a comm: send a message, hear the kernel's (with buffers). */
export interface Channel {
  send(content: Record<string, unknown>): void;
  listen(fn: (content: Record<string, unknown>, buffers: ArrayBuffer[]) => void): () => void;
}

/** What a kernel without a Transpector session answers over a comm (it closes the comm). */
export const NO_SESSION = 'this kernel has no Transpector session yet: run transpector.attach(model) in the notebook';

interface Reply {
  status: number;
  type: string;
  body: ArrayBuffer;
}

export function commTransport(channel: Channel): Transport {
  let nextId = 0;
  const waiting = new Map<number, (reply: Reply) => void>();
  let socket: SocketLike | null = null;
  channel.listen((content, buffers) => {
    // The binary part: the message's buffer, or base64 where the channel carries no buffers.
    const payload = typeof content.b64 === 'string' ? fromBase64(content.b64) : (buffers[0] ?? new ArrayBuffer(0));
    if (content.kind === 'closed') {
      // The kernel closed the comm (no session there yet, or it went): what waits fails as a
      // kernel without a session does, and the socket closes; the store tries again later.
      const message = String(content.message ?? NO_SESSION);
      waiting.forEach(answer => answer({ status: 503, type: 'application/json', body: new TextEncoder().encode(JSON.stringify({ code: 'unavailable', message })).buffer as ArrayBuffer }));
      waiting.clear();
      const gone = socket;
      socket = null;
      gone?.onclose?.(1013, message);
    } else if (content.kind === 'reply') {
      const answer = waiting.get(content.id as number);
      waiting.delete(content.id as number);
      answer?.({ status: content.status as number, type: String(content.type ?? ''), body: payload });
    } else if (content.kind === 'frame' && socket) {
      socket.onmessage?.(typeof content.text === 'string' ? content.text : payload);
    }
  });

  const request = (path: string, method = 'GET'): Promise<string> =>
    new Promise((resolve, reject) => {
      const id = ++nextId;
      waiting.set(id, reply => {
        const text = new TextDecoder().decode(reply.body);
        if (reply.status >= 200 && reply.status < 300) {
          resolve(text);
        } else {
          reject(new HttpError(reply.status, errorMessage(text, reply.status), errorCode(text)));
        }
      });
      channel.send({ kind: 'get', id, method, path });
    });

  return {
    getJSON: async path => JSON.parse(await request(path)) as unknown,
    getText: path => request(path),
    deleteJSON: async path => JSON.parse(await request(path, 'DELETE')) as unknown,
    connect: () => {
      const opened: SocketLike = {
        onopen: null,
        onmessage: null,
        onclose: null,
        send: data => channel.send({ kind: 'op', text: data }),
        close: () => {
          if (socket === opened) {
            socket = null;
            channel.send({ kind: 'disconnect' });
          }
        }
      };
      socket = opened;
      channel.send({ kind: 'connect' });
      setTimeout(() => opened.onopen?.());
      return opened;
    }
  };
}

function fromBase64(text: string): ArrayBuffer {
  const bytes = Uint8Array.from(atob(text), c => c.charCodeAt(0));
  return bytes.buffer as ArrayBuffer;
}
