/**
 * The canvas's transport choice: the proxy while it answers (its errors pass through), the comm
 * from the first `unreachable` on, for reads and sockets alike.
 */
import { describe, expect, it } from 'vitest';

import { reachingTransport } from './reachingTransport';
import { HttpError, SocketLike, Transport } from './transport';

function fake(name: string, fail: HttpError | null = null): Transport & { calls: string[] } {
  const calls: string[] = [];
  const socket = { name } as unknown as SocketLike;
  return {
    calls,
    docsUrl: `${name}/docs`,
    getJSON: async path => {
      calls.push(path);
      if (fail) {
        throw fail;
      }
      return { from: name };
    },
    getText: async path => (calls.push(path), name),
    deleteJSON: async path => (calls.push(path), { from: name }),
    connect: () => socket
  };
}

describe('reachingTransport', () => {
  it('keeps the proxy while it answers, its errors included', async () => {
    const proxy = fake('proxy', new HttpError(503, 'no session yet', 'unavailable'));
    let made = 0;
    const transport = reachingTransport(proxy, () => (made++, fake('comm')));
    await expect(transport.getJSON('graph')).rejects.toThrow('no session yet');
    expect(made).toBe(0);
    expect(transport.docsUrl).toBe('proxy/docs');
    expect((transport.connect() as unknown as { name: string }).name).toBe('proxy');
  });

  it('switches to the comm on the first unreachable, for good', async () => {
    const proxy = fake('proxy', new HttpError(503, 'no local connection file', 'unreachable'));
    const comm = fake('comm');
    let made = 0;
    const transport = reachingTransport(proxy, () => (made++, comm));
    await expect(transport.getJSON('graph')).resolves.toEqual({ from: 'comm' });
    await expect(transport.getText('code')).resolves.toBe('comm');
    expect(made).toBe(1);
    expect(proxy.calls).toEqual(['graph']);
    expect(comm.calls).toEqual(['graph', 'code']);
    expect((transport.connect() as unknown as { name: string }).name).toBe('comm');
    expect(transport.docsUrl).toBeUndefined();
  });

  it('sends again over the comm what was on its way through the proxy when it switched', async () => {
    const proxy = fake('proxy', new HttpError(503, 'no local connection file', 'unreachable'));
    const comm = fake('comm');
    let made = 0;
    const transport = reachingTransport(proxy, () => (made++, comm));
    const both = await Promise.all([transport.getJSON('graph'), transport.getJSON('experiments')]);
    expect(both).toEqual([{ from: 'comm' }, { from: 'comm' }]);
    expect(made).toBe(1);
    expect(comm.calls.sort()).toEqual(['experiments', 'graph']);
  });
});
