/**
 * The notebook's metadata and the session's saved experiments: the notebook's go to a session
 * that lacks them, the session's list is written back on every change, and what the kernel
 * refused stays in the notebook. The store is real; the socket is fed by hand.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

import type { Experiment, ExperimentInfo } from '../protocol.generated';
import { MetadataHolder, follow } from './notebookExperiments';
import { CanvasStore } from './store';
import { FakeSocket, FakeTransport, endStore, newStore, state } from './testdata/fakes';

const info = (name: string, version = 2): ExperimentInfo => ({
  name,
  saved_at: '2026-11-30T10:58:07+00:00',
  model_name: 'tiny',
  weights: 'ab'.repeat(32),
  state_version: version
});
const body = (name: string, version = 2): Experiment => ({ ...info(name, version), state: { prompts: ['Hi'] } });

class Notebook implements MetadataHolder {
  writes = 0;
  constructor(public metadata: Record<string, unknown> = {}) {}
  getMetadata(key: string): unknown {
    return this.metadata[key];
  }
  setMetadata(key: string, value: unknown): void {
    this.writes++;
    this.metadata[key] = JSON.parse(JSON.stringify(value));
  }
}

function changed(socket: FakeSocket, version: number, experiments: ExperimentInfo[]): void {
  socket.receive({ op: 'changed', version, cause: 'save_experiment', by: 'python', state: state('Hi', { experiments }) });
}

describe('saved experiments in the notebook', () => {
  let transport: FakeTransport;
  let store: CanvasStore;

  beforeEach(() => ({ transport, store } = newStore()));
  afterEach(() => endStore(store));

  async function connect(notebook: Notebook, experiments: ExperimentInfo[] = []): Promise<FakeSocket> {
    follow(store, () => notebook);
    store.start();
    await vi.waitFor(() => expect(transport.sockets.length).toBeGreaterThan(0));
    const socket = transport.socket;
    socket.receive({ op: 'state', version: 1, state: state('Hi', { experiments }), client_id: 'me', session_id: 's1' });
    return socket;
  }

  it('imports what the session lacks, then writes the whole list back', async () => {
    const notebook = new Notebook({ transpector: { experiments: [body('a'), body('b')] } });
    const socket = await connect(notebook, [info('a', 7)]); // its own 'a' wins
    await vi.waitFor(() => expect(socket.sent.some(m => m.op === 'import_experiments')).toBe(true));
    const sent = socket.sent.find(m => m.op === 'import_experiments') as { experiments: Experiment[] };
    expect(sent.experiments.map(e => e.name)).toEqual(['b']);
    expect(notebook.writes).toBe(0);

    transport.experiments = [body('a', 7), body('b')];
    changed(socket, 8, [info('a', 7), info('b')]);
    await vi.waitFor(() => expect(notebook.writes).toBe(1));
    expect(notebook.metadata.transpector).toEqual({ experiments: [body('a', 7), body('b')] });

    transport.experiments = [body('b')]; // deleted from a cell
    changed(socket, 9, [info('b')]);
    await vi.waitFor(() => expect(notebook.writes).toBe(2));
    expect(notebook.metadata.transpector).toEqual({ experiments: [body('b')] });
  });

  it('keeps what the kernel refused to import, and writes nothing when nothing changed', async () => {
    const notebook = new Notebook({ transpector: { experiments: [body('old')] } });
    const socket = await connect(notebook);
    await vi.waitFor(() => expect(socket.sent.some(m => m.op === 'import_experiments')).toBe(true));
    socket.receive({ op: 'error', code: 'invalid', message: 'an experiment: weights: bad', request_id: 'r' });

    transport.experiments = [body('new', 4)];
    changed(socket, 4, [info('new', 4)]);
    await vi.waitFor(() => expect(notebook.writes).toBe(1));
    expect(notebook.metadata.transpector).toEqual({ experiments: [body('new', 4), body('old')] });

    changed(socket, 5, [info('new', 4)]); // another change, the same list
    await Promise.resolve();
    expect(notebook.writes).toBe(1);
  });

  it('leaves a notebook without experiments untouched', async () => {
    const notebook = new Notebook();
    const socket = await connect(notebook);
    changed(socket, 2, []);
    await Promise.resolve();
    expect(notebook.writes).toBe(0);
    expect(socket.sent.some(m => m.op === 'import_experiments')).toBe(false);
  });
});
