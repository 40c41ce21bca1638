/**
 * The store's analysis tools: a lens cell's top-k, patches made by drag, the head whose
 * attention tints the tokens. The socket is fed by hand; the store is real.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

import { CanvasStore, LENS_CELL, LENS_WINDOW_KEY, nodeDataKey, parsePositions, patchCompatible } from './store';
import { FakeTransport, endStore, frame, live, newStore, state, summary } from './testdata/fakes';
import * as graphs from './testdata/graphs';

describe('CanvasStore tools', () => {
  let transport: FakeTransport;
  let store: CanvasStore;

  beforeEach(() => ({ transport, store } = newStore()));
  afterEach(() => endStore(store));

  it('asks for a lens cell once per run and keeps the answer for that run', async () => {
    const socket = await live(transport, store);
    socket.receive(summary(1));
    store.selectLensCell({ row: 'L1.resid_pre', position: 1 });
    const request = socket.last();
    expect(request).toMatchObject({ op: 'tool_call', tool: 'lens_top_k', args: { row: 'L1.resid_pre', position: 1, k: 10 } });
    expect(store.snapshot.tools[LENS_CELL]).toEqual({ status: 'loading', runVersion: 1 });
    const result = { row: 'L1.resid_pre', position: 1, top_k: [{ token: 'a', id: 97, prob: 0.5 }] };
    socket.receive({ op: 'tool_result', tool: 'lens_top_k', request_id: String(request.request_id), version: 1, result });
    expect(store.snapshot.tools[LENS_CELL]).toEqual({ status: 'ready', runVersion: 1, result });
    const sent = socket.sent.length;
    socket.receive(summary(1));
    expect(socket.sent).toHaveLength(sent);
    socket.receive(summary(2)); // a new run: the cell is asked again
    expect(socket.sent).toHaveLength(sent + 1);
    const again = socket.last();
    socket.receive({ op: 'error', code: 'invalid', message: 'positions [1] out of range', request_id: String(again.request_id) });
    expect(store.snapshot.tools[LENS_CELL]).toMatchObject({ status: 'error', runVersion: 2, message: 'positions [1] out of range' });
    store.selectLensCell(null);
    expect(store.snapshot.tools[LENS_CELL]).toBeUndefined();
  });

  it('keeps the lens each run sends, and pages a long prompt through windows it asks for', async () => {
    const socket = await live(transport, store);
    socket.receive(summary(1));
    const lens = { layers: ['L0.resid_pre'], positions: [1], n_tokens: 2, token_ids: [[3]], tokens: [['c']], probs: [[0.5]] };
    socket.receive({ op: 'tool_result', tool: 'logit_lens', request_id: '', version: 1, result: lens });
    expect(store.snapshot.tools.logit_lens).toEqual({ status: 'ready', runVersion: 1, result: lens });
    const sent = socket.sent.length;
    store.setLensStart(0);
    expect(socket.last()).toMatchObject({ op: 'tool_call', tool: 'logit_lens', args: { positions: [0, 1] } });
    socket.receive(summary(2)); // in flight: not asked twice
    expect(socket.sent).toHaveLength(sent + 1);
    store.setLensStart(null);
    expect(store.snapshot.tools[LENS_WINDOW_KEY]).toBeUndefined();
  });

  it('patches only between nodes of the same shape, from the patch prompt', async () => {
    const socket = await live(transport, store);
    const node = (id: string) => graphs.gpt_ln.nodes.find(n => n.id === id);
    expect(patchCompatible(node('L0.H1'), node('L1.H2'))).toBe(true);
    expect(patchCompatible(node('L0.resid_post'), node('L1.mlp'))).toBe(true);
    expect(patchCompatible(node('L0.H1'), node('L1.mlp'))).toBe(false); // d_head vs d_model
    expect(patchCompatible(node('L0.H1'), node('L0.H1'))).toBe(true); // same site, another prompt
    expect(patchCompatible(node('L0.ln1'), node('L0.mlp'))).toBe(false); // a norm is no target
    expect(store.addPatch('L0.H1', 'L1.mlp')).toBeNull();
    expect(socket.sent).toEqual([]);
    store.addPatch('L0.H1', 'L1.H1');
    expect(socket.last()).toMatchObject({
      op: 'add_intervention',
      intervention: { kind: 'patch', node: 'L1.H1', source: 'L0.H1', source_prompt: 'Hi', positions: null }
    });
    store.setPatchPrompt('Yo');
    store.addPatch('L0.resid_post', 'L1.resid_pre');
    expect(socket.last()).toMatchObject({ intervention: { source_prompt: 'Yo' } });
    expect(store.snapshot.state?.interventions).toEqual([]); // nothing applied before the server says so
  });

  it('a selected head drives the token tint, fetched on hover once per run', async () => {
    const socket = await live(transport, store);
    socket.receive(summary(1));
    store.selectNode('L1.H2');
    expect(store.snapshot.view.attention).toEqual({ layer: 1, head: 2, direction: 'query' });
    const sent = socket.sent.length; // the selection fetched L1.H2 already
    store.watchAttention();
    expect(socket.sent).toHaveLength(sent);
    store.setAttention({ layer: 0, head: 3, direction: 'key' });
    store.watchAttention();
    const request = socket.last();
    expect(request).toMatchObject({ op: 'node_data', node: 'L0.H3', what: 'pattern' });
    socket.receive(frame({ op: 'node_data', request_id: String(request.request_id), node: 'L0.H3', what: 'pattern', dtype: 'float16', shape: [2, 2] }, [1, 0, 0.5, 0.5]));
    store.watchAttention();
    expect(socket.sent).toHaveLength(sent + 1);
    expect(store.snapshot.nodeData[nodeDataKey('L0.H3', 'pattern')]?.status).toBe('ready');
    store.selectNode('L0.mlp'); // not a head: the tint keeps its head
    expect(store.snapshot.view.attention).toEqual({ layer: 0, head: 3, direction: 'key' });
  });

  it('adds an intervention at some positions instead of toggling the whole-node one', async () => {
    const socket = await live(transport, store);
    store.toggle('L0.H1', 'zero', [1, 3]);
    expect(socket.last()).toMatchObject({
      op: 'add_intervention',
      intervention: { kind: 'ablate', method: 'zero', node: 'L0.H1', positions: [1, 3] }
    });
    const id = 'a1';
    const intervention = { kind: 'ablate' as const, method: 'zero' as const, node: 'L0.H1', positions: [1, 3], id };
    socket.receive({ op: 'changed', version: 2, cause: 'add_intervention', by: 'me', state: { prompts: ['Hi'], active: 0, interventions: [intervention], notes: {}, reference_prompts: [] } });
    store.toggle('L0.H1', 'zero'); // the whole-node ablation is a separate one: added, not removed
    expect(socket.last()).toMatchObject({ op: 'add_intervention', intervention: { positions: null } });
  });

  it('asks for the lens cell again after a reconnect lost its answer', async () => {
    const socket = await live(transport, store);
    socket.receive(summary(1));
    store.selectLensCell({ row: 'L0.resid_pre', position: 0 });
    socket.drop();
    await vi.advanceTimersByTimeAsync(200);
    const fresh = transport.socket;
    expect(fresh).not.toBe(socket);
    fresh.receive({ op: 'state', version: 1, state: state('Hi'), client_id: 'me' });
    expect(fresh.sent.filter(m => m.op === 'tool_call' && m.tool === 'lens_top_k')).toHaveLength(1);
  });

  it('stamps node data with the run it was asked after, and asks again for a newer run', async () => {
    const socket = await live(transport, store);
    socket.receive(summary(1));
    store.selectNode('L1.H2');
    const first = socket.last();
    socket.receive(summary(2)); // a new run while the first answer is on its way
    socket.receive(frame({ op: 'node_data', request_id: String(first.request_id), node: 'L1.H2', what: 'pattern', dtype: 'float16', shape: [2, 2] }, [1, 0, 0.5, 0.5]));
    expect(store.snapshot.nodeData[nodeDataKey('L1.H2', 'pattern')]).toMatchObject({ status: 'loading', version: 2 });
    expect(socket.last()).toMatchObject({ op: 'node_data', node: 'L1.H2' });
    expect(socket.last().request_id).not.toBe(first.request_id);
  });

  it('keeps node data and lens errors in their cards, not the banner', async () => {
    const socket = await live(transport, store);
    socket.receive(summary(1));
    store.selectLensCell({ row: 'L0.resid_pre', position: 1 });
    socket.receive({ op: 'error', code: 'invalid', message: 'nope', request_id: String(socket.last().request_id) });
    store.requestNodeData('L0.mlp', 'norm');
    socket.receive({ op: 'error', code: 'invalid', message: 'nope', request_id: String(socket.last().request_id) });
    expect(store.snapshot.error).toBeNull();
    expect(store.snapshot.tools[LENS_CELL]).toMatchObject({ status: 'error', message: 'nope' });
  });
});

describe('parsePositions', () => {
  it('reads numbers, ranges and negatives; empty means all', () => {
    expect(parsePositions('')).toEqual({ positions: null });
    expect(parsePositions('  ')).toEqual({ positions: null });
    expect(parsePositions('3, 0 1-2,3')).toEqual({ positions: [0, 1, 2, 3] });
    expect(parsePositions('-1')).toEqual({ positions: [-1] });
  });

  it('says what is wrong with the rest', () => {
    expect(parsePositions('2-1')).toEqual({ error: '"2-1" is not a range from low to high' });
    expect(parsePositions('a')).toHaveProperty('error');
    expect(parsePositions('1.5')).toHaveProperty('error');
  });
});
