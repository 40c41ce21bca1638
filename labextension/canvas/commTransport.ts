/**
 * The Transport over a Jupyter comm (a notebook widget's): the kernel's CommBridge answers the
 * REST reads in-process and carries the websocket's frames, binary ones as buffers. The same
 * store and views run over it as over the Jupyter server's proxy.
 */
import { HttpError, SocketLike, Transport, errorMessage } from './transport';

/** What the transport needs of a comm: send a message, hear the kernel's (with buffers). */
export interface Channel {
  send(content: Record<string, unknown>): void;
  listen(fn: (content: Record<string, unknown>, buffers: ArrayBuffer[]) => void): () => void;
}

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
    if (content.kind === 'reply') {
      const answer = waiting.get(content.id as number);
      waiting.delete(content.id as number);
      answer?.({ status: content.status as number, type: String(content.type ?? ''), body: buffers[0] ?? new ArrayBuffer(0) });
    } else if (content.kind === 'frame' && socket) {
      socket.onmessage?.(typeof content.text === 'string' ? content.text : (buffers[0] ?? new ArrayBuffer(0)));
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
          reject(new HttpError(reply.status, errorMessage(text, reply.status)));
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
