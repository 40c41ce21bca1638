/**
 * The store's experiment controls: pending changes, the metric, pairs and references, a batch
 * run with progress and cancel, and a patch drop that cannot be made. The socket is fed by hand;
 * the store is real.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

import { CanvasStore, PROMPT_BATCH_KEY } from './store';
import { FakeTransport, endStore, live, newStore, state } from './testdata/fakes';

describe('CanvasStore experiment controls', () => {
  let transport: FakeTransport;
  let store: CanvasStore;

  beforeEach(() => ({ transport, store } = newStore()));
  afterEach(() => endStore(store));

  it('keeps a change pending on its node until the kernel takes or refuses it', async () => {
    const socket = await live(transport, store);
    await vi.waitFor(() => expect(store.snapshot.graph).not.toBeNull());
    const id = store.toggleAblation('L0.H1');
    expect(store.snapshot.pending).toMatchObject([{ requestId: id, nodes: ['L0.H1'] }]);
    const ablate = { kind: 'ablate' as const, id: 'a1', node: 'L0.H1', positions: null, method: 'zero' as const };
    socket.receive({ op: 'changed', version: 2, cause: 'add_intervention', by: 'someone-else', request_id: String(id), state: state('Hi', { interventions: [ablate] }) });
    expect(store.snapshot.pending).toHaveLength(1); // another client's change with a clashing id
    socket.receive({ op: 'changed', version: 3, cause: 'add_intervention', by: 'me', request_id: String(id), state: state('Hi', { interventions: [ablate] }) });
    expect(store.snapshot.pending).toEqual([]);
    const removal = store.toggleAblation('L0.H1');
    expect(store.snapshot.pending).toMatchObject([{ nodes: ['L0.H1'], op: { op: 'remove_intervention', id: 'a1' } }]);
    socket.receive({ op: 'error', code: 'invalid', message: 'no such intervention', request_id: String(removal) });
    expect(store.snapshot.pending).toEqual([]);
    store.send({ op: 'ping' }); // not a change: never pending
    expect(store.snapshot.pending).toEqual([]);
  });

  it('sends the metric, pairs, references, prompts and a many-node change', async () => {
    const socket = await live(transport, store);
    store.setMetric({ kind: 'logit_diff', correct: ' Mary', wrong: ' John' });
    expect(socket.last()).toMatchObject({ op: 'set_metric', metric: { kind: 'logit_diff', correct: ' Mary', wrong: ' John' } });
    store.setPairs([{ clean: 'a b', corrupt: 'a c' }]);
    expect(socket.last()).toMatchObject({ op: 'set_pairs', pairs: [{ clean: 'a b', corrupt: 'a c' }] });
    store.setReferences(['x', 'y']);
    expect(socket.last()).toMatchObject({ op: 'set_reference', prompts: ['x', 'y'] });
    store.setPrompts(['one', 'two']);
    expect(socket.last()).toMatchObject({ op: 'set_prompts', prompts: ['one', 'two'] });
    store.addMany([
      { kind: 'ablate', id: '', node: 'L0.H0', positions: null, method: 'zero' },
      { kind: 'ablate', id: '', node: 'L1.H2', positions: null, method: 'zero' }
    ]);
    expect(socket.last()).toMatchObject({ op: 'add_interventions' });
    expect(store.snapshot.pending.at(-1)?.nodes).toEqual(['L0.H0', 'L1.H2']);
  });

  it('runs the corrupt prompt of a pair and patches from the clean one', async () => {
    const socket = await live(transport, store);
    store.usePair({ clean: 'Hi', corrupt: 'Ho' }, 'corrupt');
    expect(socket.last()).toMatchObject({ op: 'set_prompt', prompt: 'Ho' });
    expect(store.snapshot.view.patchPrompt).toBe('Hi');
    const sent = socket.sent.length;
    store.usePair({ clean: 'Hi', corrupt: 'Ho' }, 'clean'); // 'Hi' is the prompt already
    expect(socket.sent).toHaveLength(sent);
    expect(store.snapshot.view.patchPrompt).toBe('Ho');
  });

  it('runs every prompt with progress, and cancels by task id', async () => {
    const socket = await live(transport, store);
    store.runBatch();
    const call = socket.last();
    expect(call).toMatchObject({ op: 'tool_call', tool: 'prompt_batch' });
    const requestId = String(call.request_id);
    socket.receive({ op: 'progress', task_id: 't9', tool: 'prompt_batch', request_id: 'other', done: 1, total: 5 });
    expect(store.snapshot.tools[PROMPT_BATCH_KEY]).toMatchObject({ status: 'loading' });
    expect(store.snapshot.tools[PROMPT_BATCH_KEY]).not.toHaveProperty('progress');
    socket.receive({ op: 'progress', task_id: 't1', tool: 'prompt_batch', request_id: requestId, done: 2, total: 3, label: 'two' });
    expect(store.snapshot.tools[PROMPT_BATCH_KEY]).toMatchObject({ status: 'loading', progress: { taskId: 't1', done: 2, total: 3, label: 'two' } });
    store.cancel('t1');
    expect(socket.last()).toMatchObject({ op: 'cancel', task_id: 't1' });
    const row = { prompt: 'Hi', n_tokens: 2, mean_loss: 1.5, top_token: { token: '!', id: 2, prob: 0.5 } };
    socket.receive({ op: 'tool_result', tool: 'prompt_batch', request_id: requestId, task_id: 't1', version: 1, result: { rows: [row], complete: false } });
    expect(store.snapshot.tools[PROMPT_BATCH_KEY]).toMatchObject({ status: 'ready', result: { rows: [row], complete: false } });
  });

  it('says why a patch drop cannot be made instead of ignoring it', async () => {
    const socket = await live(transport, store);
    await vi.waitFor(() => expect(store.snapshot.graph).not.toBeNull());
    const sent = socket.sent.length;
    expect(store.addPatch('L0.H0', 'L1.mlp')).toBeNull();
    expect(socket.sent).toHaveLength(sent);
    expect(store.snapshot.error?.message).toMatch(/Cannot patch L0\.H0 into L1\.mlp: L0\.H0 gives \[16\] per position and L1\.mlp takes \[64\]/);
    expect(store.addPatch('L0.H0', 'L0.ln1')).toBeNull();
    expect(store.snapshot.error?.message).toMatch(/L0\.ln1 is a ln1 node/);
  });

  it('picks nodes and acts on all of them in one change', async () => {
    const socket = await live(transport, store);
    await vi.waitFor(() => expect(store.snapshot.graph).not.toBeNull());
    store.togglePicked('L0.H1');
    store.togglePicked('L1.mlp');
    store.togglePicked('L0.ln1'); // a norm: no intervention fits it
    expect(store.snapshot.view.picked).toEqual(['L0.H1', 'L1.mlp', 'L0.ln1']);
    store.actOnPicked('isolate');
    expect(socket.last()).toMatchObject({ op: 'add_interventions', interventions: [{ kind: 'isolate', node: 'L0.H1' }] });
    store.setPatchPrompt('Ho');
    store.actOnPicked('patch');
    expect(socket.last()).toMatchObject({
      op: 'add_interventions',
      interventions: [
        { kind: 'patch', node: 'L0.H1', source: 'L0.H1', source_prompt: 'Ho' },
        { kind: 'patch', node: 'L1.mlp', source: 'L1.mlp', source_prompt: 'Ho' }
      ]
    });
    store.actOnPicked('freeze');
    expect(socket.last()).toMatchObject({ interventions: [{ kind: 'freeze', prompt: 'Hi' }, { kind: 'freeze', node: 'L1.mlp' }] });
    store.togglePicked('L0.ln1');
    store.setPicked(['L1.mlp', 'L1.mlp']);
    expect(store.snapshot.view.picked).toEqual(['L1.mlp']);
    const sent = socket.sent.length;
    store.setPicked(['L0.ln1']);
    expect(store.actOnPicked('zero')).toBeNull(); // nothing fits: nothing sent
    expect(socket.sent).toHaveLength(sent);
  });
});
