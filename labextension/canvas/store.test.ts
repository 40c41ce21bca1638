import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

import type { RunSummary, ServerMessage, SessionState } from '../protocol.generated';
import { CanvasStore, activePrompt, nodeDataKey, zeroAblationOf } from './store';
import * as graphs from './testdata/graphs';
import { HttpError, SocketLike, Transport } from './transport';

class FakeSocket implements SocketLike {
  onopen: (() => void) | null = null;
  onmessage: ((data: string | ArrayBuffer) => void) | null = null;
  onclose: ((code: number, reason: string) => void) | null = null;
  sent: Record<string, unknown>[] = [];
  closed = false;

  send(data: string): void {
    this.sent.push(JSON.parse(data) as Record<string, unknown>);
  }
  close(): void {
    this.closed = true;
  }
  receive(message: ServerMessage | ArrayBuffer): void {
    this.onmessage?.(message instanceof ArrayBuffer ? message : JSON.stringify(message));
  }
  drop(code = 1013, reason = 'gone'): void {
    this.onclose?.(code, reason);
  }
  last(): Record<string, unknown> {
    return this.sent[this.sent.length - 1];
  }
}

/** A transport whose graph answers come from a queue (a value, or an error to throw). */
class FakeTransport implements Transport {
  sockets: FakeSocket[] = [];
  graphAnswers: (unknown | Error)[] = [];
  graphCalls = 0;

  async getJSON(path: string): Promise<unknown> {
    expect(path).toBe('graph');
    this.graphCalls++;
    const answer = this.graphAnswers.length > 0 ? this.graphAnswers.shift() : graphs.tiny_llama;
    if (answer instanceof Error) {
      throw answer;
    }
    return answer;
  }
  async getText(): Promise<string> {
    return 'import torch\n';
  }
  async deleteJSON(): Promise<unknown> {
    return { removed: 0 };
  }
  connect(): SocketLike {
    const socket = new FakeSocket();
    this.sockets.push(socket);
    return socket;
  }
  get socket(): FakeSocket {
    return this.sockets[this.sockets.length - 1];
  }
}

const state = (prompt: string, extra: Partial<SessionState> = {}): SessionState => ({
  prompts: [prompt],
  active: 0,
  interventions: [],
  notes: {},
  reference_prompts: [],
  ...extra
});

function summary(version: number, prompt = 'Hi'): RunSummary {
  return {
    op: 'run_summary',
    version,
    prompt,
    tokens: ['H', 'i'],
    token_ids: [41, 74],
    top_k: [[{ token: 'i', id: 74, prob: 0.5 }], [{ token: '!', id: 2, prob: 0.25 }]],
    loss: [1.5],
    logit_lens: null,
    head_dla: [[0.1, 0.2, 0.3, 0.4], [0, 0, 0, 0]],
    dla_token: { token: '!', id: 2, prob: 0.25 },
    logits_shape: [1, 2, 257]
  };
}

async function live(transport: FakeTransport, store: CanvasStore, version = 1): Promise<FakeSocket> {
  store.start();
  await vi.waitFor(() => expect(transport.sockets.length).toBeGreaterThan(0));
  const socket = transport.socket;
  socket.receive({ op: 'state', version, state: state('Hi'), client_id: 'me' });
  return socket;
}

describe('CanvasStore', () => {
  let transport: FakeTransport;
  let store: CanvasStore;

  beforeEach(() => {
    vi.useFakeTimers();
    transport = new FakeTransport();
    store = new CanvasStore(transport, { debounceMs: 100, backoffMs: 100, maxBackoffMs: 400, pollMs: 1000 });
  });
  afterEach(() => {
    store.dispose();
    vi.useRealTimers();
  });

  it('fetches the graph, connects, and goes live on the state message', async () => {
    expect(store.snapshot.connection.kind).toBe('connecting');
    await live(transport, store, 7);
    const snap = store.snapshot;
    expect(snap.connection.kind).toBe('live');
    expect(snap.graph?.model_name).toBe(graphs.tiny_llama.model_name);
    expect(snap.version).toBe(7);
    expect(snap.clientId).toBe('me');
    expect(activePrompt(snap.state)).toBe('Hi');
  });

  it('never applies its own operation before the server answers', async () => {
    const socket = await live(transport, store);
    const requestId = store.toggleAblation('L0.H1');
    expect(socket.last()).toEqual({
      op: 'add_intervention',
      request_id: requestId,
      intervention: { kind: 'ablate', node: 'L0.H1', method: 'zero', positions: null, id: '' }
    });
    expect(store.snapshot.state?.interventions).toEqual([]);
    expect(store.snapshot.version).toBe(1);
    const ablate = { kind: 'ablate' as const, node: 'L0.H1', method: 'zero' as const, positions: null, id: 'a1' };
    socket.receive({
      op: 'changed', version: 2, cause: 'add', by: 'me', request_id: requestId ?? '',
      state: state('Hi', { interventions: [ablate] })
    });
    expect(store.snapshot.version).toBe(2);
    expect(zeroAblationOf(store.snapshot.state, 'L0.H1')?.id).toBe('a1');
    // A second toggle removes it by id.
    store.toggleAblation('L0.H1');
    expect(socket.last()).toMatchObject({ op: 'remove_intervention', id: 'a1' });
  });

  it('toggles mean ablation, isolation and freezing as separate interventions', async () => {
    const socket = await live(transport, store);
    store.toggle('L0.H1', 'mean');
    expect(socket.last()).toMatchObject({ intervention: { kind: 'ablate', node: 'L0.H1', method: 'mean' } });
    store.toggle('L0.H1', 'isolate');
    expect(socket.last()).toMatchObject({ intervention: { kind: 'isolate', node: 'L0.H1', method: 'zero' } });
    store.toggle('L0.mlp', 'freeze');
    expect(socket.last()).toMatchObject({ intervention: { kind: 'freeze', node: 'L0.mlp', prompt: 'Hi' } });
    const mean = { kind: 'ablate' as const, node: 'L0.H1', method: 'mean' as const, positions: null, id: 'm1' };
    const partial = { kind: 'ablate' as const, node: 'L0.H1', method: 'zero' as const, positions: [1], id: 'p1' };
    socket.receive({ op: 'changed', version: 2, cause: 'add', by: 'python', state: state('Hi', { interventions: [mean, partial] }) });
    store.toggle('L0.H1', 'mean');
    expect(socket.last()).toEqual({ op: 'remove_intervention', id: 'm1', request_id: expect.any(String) });
    // An ablation of some positions only is not the whole-node one: toggling adds that.
    store.toggleAblation('L0.H1');
    expect(socket.last()).toMatchObject({ op: 'add_intervention' });
  });

  it('ignores changes older than the version it has', async () => {
    const socket = await live(transport, store, 5);
    socket.receive({ op: 'changed', version: 4, cause: 'x', by: 'python', state: state('old') });
    expect(activePrompt(store.snapshot.state)).toBe('Hi');
    socket.receive({ op: 'changed', version: 6, cause: 'x', by: 'python', state: state('new') });
    expect(activePrompt(store.snapshot.state)).toBe('new');
  });

  it('debounces prompt edits: one set_prompt with the latest text', async () => {
    const socket = await live(transport, store);
    for (const text of ['T', 'Th', 'The', 'The c']) {
      store.editPrompt(text);
      vi.advanceTimersByTime(50);
    }
    expect(socket.sent).toEqual([]);
    expect(store.snapshot.promptDraft).toBe('The c');
    vi.advanceTimersByTime(100);
    expect(socket.sent).toHaveLength(1);
    expect(socket.last()).toMatchObject({ op: 'set_prompt', prompt: 'The c' });
    // The draft stays until the server's answer to this request.
    socket.receive({ op: 'changed', version: 2, cause: 'p', by: 'python', state: state('cell') });
    expect(store.snapshot.promptDraft).toBe('The c');
    socket.receive({
      op: 'changed', version: 3, cause: 'p', by: 'me', request_id: String(socket.last().request_id),
      state: state('The c')
    });
    expect(store.snapshot.promptDraft).toBeNull();
    expect(activePrompt(store.snapshot.state)).toBe('The c');
  });

  it('a cell changing the prompt shows at once when nothing of ours is pending', async () => {
    const socket = await live(transport, store);
    socket.receive({ op: 'changed', version: 2, cause: 'set_prompt', by: 'python', state: state('From a cell') });
    expect(store.snapshot.promptDraft).toBeNull();
    expect(activePrompt(store.snapshot.state)).toBe('From a cell');
  });

  it('keeps the newest run summary', async () => {
    const socket = await live(transport, store);
    socket.receive(summary(3));
    socket.receive(summary(2, 'stale'));
    expect(store.snapshot.run?.version).toBe(3);
    expect(store.snapshot.run?.prompt).toBe('Hi');
  });

  it('shows errors and keeps the state as it was', async () => {
    const socket = await live(transport, store);
    const requestId = store.send({ op: 'set_note', node: 'nope', text: 'x' });
    socket.receive({ op: 'error', code: 'invalid', message: "unknown node 'nope'", request_id: requestId ?? '' });
    expect(store.snapshot.error?.message).toBe("unknown node 'nope'");
    expect(store.snapshot.version).toBe(1);
    expect(store.snapshot.connection.kind).toBe('live');
  });

  it('says there is no session on a 503 and tries again later and on kernel idle', async () => {
    transport.graphAnswers = [new HttpError(503, 'no Transpector session in this kernel'), new HttpError(503, 'still none')];
    store.start();
    await vi.waitFor(() => expect(store.snapshot.connection.kind).toBe('no_session'));
    expect(store.snapshot.connection).toEqual({ kind: 'no_session', message: 'no Transpector session in this kernel' });
    store.setKernelStatus('busy');
    store.setKernelStatus('idle');
    await vi.waitFor(() => expect(transport.graphCalls).toBe(2));
    await vi.waitFor(() => expect(store.snapshot.connection).toMatchObject({ message: 'still none' }));
    vi.advanceTimersByTime(1000);
    await vi.waitFor(() => expect(transport.sockets).toHaveLength(1));
    transport.socket.receive({ op: 'state', version: 1, state: state('Hi'), client_id: 'me' });
    expect(store.snapshot.connection.kind).toBe('live');
  });

  it('reconnects with backoff after the socket closes and fetches the graph again', async () => {
    const first = await live(transport, store);
    first.drop(1013, 'the app is gone');
    expect(store.snapshot.connection).toMatchObject({ kind: 'reconnecting', attempt: 1 });
    transport.graphAnswers = [new Error('refused'), graphs.gpt_ln];
    await vi.advanceTimersByTimeAsync(99);
    expect(transport.graphCalls).toBe(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(transport.graphCalls).toBe(2);
    expect(store.snapshot.connection).toMatchObject({ kind: 'reconnecting', attempt: 2, reason: 'refused' });
    await vi.advanceTimersByTimeAsync(199); // the second wait is longer (200 ms)
    expect(transport.graphCalls).toBe(2);
    await vi.advanceTimersByTimeAsync(1);
    expect(transport.sockets).toHaveLength(2);
    expect(store.snapshot.graph?.model_name).toBe(graphs.gpt_ln.model_name);
    transport.socket.receive({ op: 'state', version: 9, state: state('back'), client_id: 'me2' });
    expect(store.snapshot.connection.kind).toBe('live');
    expect(store.snapshot.version).toBe(9);
  });

  it('shows reconnecting while the kernel restarts, then comes back when it is idle', async () => {
    const first = await live(transport, store);
    store.setKernelStatus('restarting');
    expect(store.snapshot.connection.kind).toBe('reconnecting');
    expect(first.closed).toBe(true);
    first.drop(); // the old socket's close must not disturb the new attempt
    transport.graphAnswers = [new HttpError(503, 'no session'), new HttpError(503, 'the app of this kernel is gone')];
    await vi.advanceTimersByTimeAsync(100);
    expect(transport.graphCalls).toBe(2);
    // Still restarting: a 503 now is no news, it stays "reconnecting".
    expect(store.snapshot.connection).toMatchObject({ kind: 'reconnecting', reason: 'the kernel is restarting' });
    store.setKernelStatus('idle');
    await vi.waitFor(() => expect(store.snapshot.connection.kind).toBe('no_session'));
    store.setKernelStatus('busy'); // the user runs transpector.attach(model) again
    store.setKernelStatus('idle');
    await vi.waitFor(() => expect(transport.sockets).toHaveLength(2));
    transport.socket.receive({ op: 'state', version: 1, state: state('Hi'), client_id: 'me' });
    expect(store.snapshot.connection.kind).toBe('live');
  });

  it('sends a prompt typed while disconnected once it is back', async () => {
    const first = await live(transport, store);
    first.drop();
    store.editPrompt('typed offline');
    vi.advanceTimersByTime(100);
    await vi.waitFor(() => expect(transport.sockets).toHaveLength(2));
    const socket = transport.socket;
    socket.receive({ op: 'state', version: 4, state: state('Hi'), client_id: 'me' });
    expect(socket.last()).toMatchObject({ op: 'set_prompt', prompt: 'typed offline' });
    expect(store.snapshot.promptDraft).toBe('typed offline');
  });

  it('fetches the selected head pattern as binary after each run', async () => {
    const socket = await live(transport, store);
    store.selectNode('L1.H2');
    expect(socket.sent).toEqual([]); // nothing to show before a run
    socket.receive(summary(1));
    const request = socket.last();
    expect(request).toMatchObject({ op: 'node_data', node: 'L1.H2', what: 'pattern', dtype: 'float16' });
    const key = nodeDataKey('L1.H2', 'pattern');
    expect(store.snapshot.nodeData[key]?.status).toBe('loading');
    socket.receive(frame({ op: 'node_data', request_id: String(request.request_id), node: 'L1.H2', what: 'pattern', dtype: 'float16', shape: [2, 2] }, [1, 0, 0.5, 0.25]));
    const data = store.snapshot.nodeData[key];
    expect(data?.status).toBe('ready');
    if (data?.status === 'ready') {
      expect([...data.values]).toEqual([1, 0, 0.5, 0.25]);
      expect(data.shape).toEqual([2, 2]);
    }
    socket.receive(summary(1)); // same run again: no new request
    expect(socket.sent).toHaveLength(1);
    socket.receive(summary(2));
    expect(socket.sent).toHaveLength(2);
  });

  it('fetches activation norms for an MLP node, nothing for the tokens node', async () => {
    const socket = await live(transport, store);
    socket.receive(summary(1));
    store.selectNode('L0.mlp');
    expect(socket.last()).toMatchObject({ op: 'node_data', node: 'L0.mlp', what: 'norm' });
    const sent = socket.sent.length;
    store.selectNode('tokens');
    expect(socket.sent).toHaveLength(sent);
  });

  it('marks a failed node data request', async () => {
    const socket = await live(transport, store);
    store.requestNodeData('L0.mlp', 'norm');
    const requestId = String(socket.last().request_id);
    socket.receive({ op: 'error', code: 'invalid', message: 'no such node', request_id: requestId });
    expect(store.snapshot.nodeData[nodeDataKey('L0.mlp', 'norm')]).toMatchObject({ status: 'error', message: 'no such node' });
  });

  it('sends nothing while not connected', () => {
    expect(store.send({ op: 'ping' })).toBeNull();
  });

  it('folds layers and hides kinds as local view state', () => {
    store.toggleFold(1);
    store.toggleFold(0);
    expect(store.snapshot.view.folded).toEqual([0, 1]);
    store.toggleFold(1);
    expect(store.snapshot.view.folded).toEqual([0]);
    store.toggleKind('ln1');
    expect(store.snapshot.view.hiddenKinds).toEqual(['ln1']);
    store.toggleKind('ln1');
    expect(store.snapshot.view.hiddenKinds).toEqual([]);
  });
});

/** A binary node_data frame as the kernel sends it (float16 values). */
function frame(header: object, values: number[]): ArrayBuffer {
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - ((4 + json.length) % 8)) % 8);
  const buffer = new ArrayBuffer(4 + json.length + 2 * values.length);
  new DataView(buffer).setUint32(0, json.length, true);
  new Uint8Array(buffer, 4, json.length).set(new TextEncoder().encode(json));
  const half = new DataView(buffer, 4 + json.length);
  values.forEach((v, i) => half.setUint16(2 * i, toHalf(v), true));
  return buffer;
}

function toHalf(value: number): number {
  const exact: Record<number, number> = { 0: 0x0000, 1: 0x3c00, 0.5: 0x3800, 0.25: 0x3400 };
  return exact[value];
}
