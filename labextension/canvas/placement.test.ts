import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { deviceOptions, isSharded, memoryUrl, onCuda, placementLabel } from './placement';
import { CanvasStore } from './store';
import { FakeTransport, endStore, live, newStore, state } from './testdata/fakes';

const cpu = { device: 'cpu', devices: ['cpu'], dtype: 'float32', available: ['cpu'], dtypes: ['float32', 'float16', 'bfloat16'] };
const sharded = { ...cpu, device: 'cuda:0', devices: ['cuda:0', 'cuda:1'], dtype: 'bfloat16', available: ['cpu', 'cuda:0', 'cuda:1'] };

describe('placement labels', () => {
  it('shows device and dtype, and every device of a sharded model', () => {
    expect(placementLabel(cpu)).toBe('cpu · float32');
    expect(placementLabel(sharded)).toBe('cuda:0 + cuda:1 · bfloat16');
    expect(placementLabel(undefined)).toBe('');
    expect([isSharded(cpu), isSharded(sharded)]).toEqual([false, true]);
    expect([onCuda(cpu), onCuda(sharded)]).toEqual([false, true]);
  });

  it('offers only the devices the kernel reports', () => {
    expect(deviceOptions(cpu)).toEqual(['cpu']);
    expect(deviceOptions(sharded)).toEqual(['cpu', 'cuda:0', 'cuda:1']);
  });

  it('links the memory page beside the API docs', () => {
    expect(memoryUrl('/transpector/kernels/k1/api/docs')).toBe('/transpector/kernels/k1/api/memory/snapshot.html');
    expect(memoryUrl(undefined)).toBeUndefined();
  });
});

describe('a move from the canvas', () => {
  let transport: FakeTransport;
  let store: CanvasStore;

  beforeEach(() => ({ transport, store } = newStore()));
  afterEach(() => endStore(store));

  it('sends move_model, follows its progress, and ends with the answer', async () => {
    const socket = await live(transport, store);
    const requestId = store.moveModel(null, 'bfloat16');
    expect(socket.last()).toEqual({ op: 'move_model', device: null, dtype: 'bfloat16', request_id: requestId });
    expect(store.snapshot.moving).toMatchObject({ requestId, taskId: null });
    socket.receive({ op: 'progress', task_id: 't1', tool: 'patching', request_id: 'other', done: 1, total: 9 });
    expect(store.snapshot.moving?.taskId).toBeNull(); // another task's progress
    socket.receive({ op: 'progress', task_id: 't9', tool: 'move_model', request_id: requestId ?? '', done: 2, total: 7, label: 'blocks.0' });
    expect(store.snapshot.moving).toMatchObject({ taskId: 't9', done: 2, total: 7, label: 'blocks.0' });
    store.cancel('t9');
    expect(socket.last()).toMatchObject({ op: 'cancel', task_id: 't9' });
    socket.receive({ op: 'changed', version: 2, cause: 'move_model', by: 'me', request_id: requestId ?? '', state: state('Hi', { placement: { ...cpu, dtype: 'bfloat16' } }) });
    socket.receive({ op: 'placed', request_id: requestId ?? '', placement: { ...cpu, dtype: 'bfloat16' } });
    expect(store.snapshot.moving).toBeNull();
    expect(placementLabel(store.snapshot.state?.placement)).toBe('cpu · bfloat16');
  });

  it('shows a failed move in the banner and stops waiting for it', async () => {
    const socket = await live(transport, store);
    const requestId = store.moveModel('cuda:0', null);
    const message = 'out of memory moving the model to cuda:0 as float32: ...; it is back on cpu as float32';
    socket.receive({ op: 'error', code: 'invalid', message, request_id: requestId ?? '' });
    expect(store.snapshot.moving).toBeNull();
    expect(store.snapshot.error?.message).toBe(message);
  });
});
