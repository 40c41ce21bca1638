import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

import { CanvasStore, activePrompt, nodeDataKey, zeroAblationOf } from './store';
import { FakeTransport, endStore, frame, live, newStore, state, summary } from './testdata/fakes';
import * as graphs from './testdata/graphs';
import { HttpError } from './transport';

describe('CanvasStore', () => {
  let transport: FakeTransport;
  let store: CanvasStore;

  beforeEach(() => ({ transport, store } = newStore()));
  afterEach(() => endStore(store));

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

  it('drops every run and answer of a session it has left (a restarted kernel)', async () => {
    const socket = await live(transport, store);
    socket.receive({ op: 'state', version: 48, state: state('Italy'), client_id: 'me', session_id: 'old' });
    socket.receive({ ...summary(48, 'Italy'), session_id: 'old' });
    socket.receive({ op: 'tool_result', tool: 'logit_lens', request_id: '', version: 48, result: {} });
    expect(store.snapshot.run?.version).toBe(48);
    socket.receive({ op: 'state', version: 3, state: state('France'), client_id: 'me', session_id: 'new' });
    expect(store.snapshot.run).toBeNull();
    expect(store.snapshot.tools).toEqual({});
    socket.receive({ ...summary(47, 'Italy'), session_id: 'old' }); // late, from the old session
    expect(store.snapshot.run).toBeNull();
    socket.receive({ ...summary(3, 'France'), session_id: 'new' });
    expect(store.snapshot.run).toMatchObject({ version: 3, prompt: 'France' });
    socket.receive({ op: 'state', version: 3, state: state('France'), client_id: 'me', session_id: 'new' });
    expect(store.snapshot.run?.version).toBe(3); // a reconnect to the same session keeps it
  });

  it('drops the error banner when the next operation goes out', async () => {
    const socket = await live(transport, store);
    socket.receive({ op: 'error', code: 'invalid', message: 'mean ablation of L0.H1 needs reference prompts' });
    expect(store.snapshot.error?.message).toContain('reference prompts');
    store.selectNode('L0.H1'); // local, nothing sent: the banner stays
    expect(store.snapshot.error).not.toBeNull();
    store.toggle('L0.H1', 'zero');
    expect(store.snapshot.error).toBeNull();
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
