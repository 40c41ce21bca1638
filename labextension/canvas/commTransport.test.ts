/**
 * The comm transport: requests matched to their replies by id (JSON, text, errors with the
 * kernel's message), frames to the open socket only (text, or a binary buffer), and a close that
 * tells the kernel once.
 */
import { describe, expect, it } from 'vitest';

import { Channel, commTransport } from './commTransport';
import { HttpError } from './transport';

class FakeChannel implements Channel {
  sent: Record<string, unknown>[] = [];
  private _fn: ((content: Record<string, unknown>, buffers: ArrayBuffer[]) => void) | null = null;
  send(content: Record<string, unknown>): void {
    this.sent.push(content);
  }
  listen(fn: (content: Record<string, unknown>, buffers: ArrayBuffer[]) => void): () => void {
    this._fn = fn;
    return () => (this._fn = null);
  }
  kernel(content: Record<string, unknown>, buffers: ArrayBuffer[] = []): void {
    this._fn?.(content, buffers);
  }
}

const bytes = (text: string): ArrayBuffer => new TextEncoder().encode(text).buffer as ArrayBuffer;

describe('commTransport', () => {
  it('matches replies to requests by id, in any order', async () => {
    const channel = new FakeChannel();
    const transport = commTransport(channel);
    const graph = transport.getJSON('graph');
    const code = transport.getText('code');
    expect(channel.sent).toEqual([
      { kind: 'get', id: 1, method: 'GET', path: 'graph' },
      { kind: 'get', id: 2, method: 'GET', path: 'code' }
    ]);
    channel.kernel({ kind: 'reply', id: 2, status: 200, type: 'text/plain' }, [bytes('import torch\n')]);
    channel.kernel({ kind: 'reply', id: 1, status: 200, type: 'application/json' }, [bytes('{"n_layers": 2}')]);
    await expect(graph).resolves.toEqual({ n_layers: 2 });
    await expect(code).resolves.toBe('import torch\n');
  });

  it("rejects an error answer with the kernel's message and status", async () => {
    const channel = new FakeChannel();
    const answer = commTransport(channel).getJSON('experiments/diff?a=x&b=y');
    channel.kernel({ kind: 'reply', id: 1, status: 400, type: 'application/json' }, [bytes('{"message": "no experiment named \'x\'"}')]);
    const error = await answer.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(HttpError);
    expect((error as HttpError).status).toBe(400);
    expect((error as HttpError).message).toBe("no experiment named 'x'");
  });

  it('carries frames to the open socket and closes once', async () => {
    const channel = new FakeChannel();
    const transport = commTransport(channel);
    channel.kernel({ kind: 'frame', text: '{"op":"pong"}' }); // no socket yet: dropped
    const socket = transport.connect();
    const received: (string | ArrayBuffer)[] = [];
    socket.onmessage = data => received.push(data);
    let opened = false;
    socket.onopen = () => (opened = true);
    await new Promise(resolve => setTimeout(resolve));
    expect(opened).toBe(true);
    channel.kernel({ kind: 'frame', text: '{"op":"state"}' });
    const binary = bytes('\u0000\u0001');
    channel.kernel({ kind: 'frame' }, [binary]);
    expect(received).toEqual(['{"op":"state"}', binary]);
    socket.send('{"op":"ping"}');
    socket.close();
    socket.close();
    expect(channel.sent).toEqual([{ kind: 'connect' }, { kind: 'op', text: '{"op":"ping"}' }, { kind: 'disconnect' }]);
  });

  it('fails what waits and closes the socket when the kernel closes the comm', async () => {
    const channel = new FakeChannel();
    const transport = commTransport(channel);
    const socket = transport.connect();
    const closed: [number, string][] = [];
    socket.onclose = (code, reason) => closed.push([code, reason]);
    const graph = transport.getJSON('graph').catch((e: unknown) => e);
    channel.kernel({ kind: 'closed' });
    const error = (await graph) as HttpError;
    expect(error).toBeInstanceOf(HttpError);
    expect([error.status, error.code]).toEqual([503, 'unavailable']);
    expect(error.message).toContain('run transpector.attach(model)');
    expect(closed).toEqual([[1013, error.message]]);
  });

  it('reads base64 where the channel carries no buffers', async () => {
    const channel = new FakeChannel();
    const transport = commTransport(channel);
    const graph = transport.getJSON('graph');
    channel.kernel({ kind: 'reply', id: 1, status: 200, type: 'application/json', b64: btoa('{"n_layers": 2}') });
    await expect(graph).resolves.toEqual({ n_layers: 2 });
    const socket = transport.connect();
    const received: (string | ArrayBuffer)[] = [];
    socket.onmessage = data => received.push(data);
    channel.kernel({ kind: 'frame', b64: btoa('\u0000\u0007') });
    expect(Array.from(new Uint8Array(received[0] as ArrayBuffer))).toEqual([0, 7]);
  });
});
