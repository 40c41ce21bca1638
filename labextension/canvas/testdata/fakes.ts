/**
 * Test doubles of the store's outside world (a transport, a socket fed by hand) and the
 * messages the kernel sends; the store under test is real.
 */
import { expect, vi } from 'vitest';

import type { RunSummary, ServerMessage, SessionState } from '../../protocol.generated';
import { CanvasStore } from '../store';
import { SocketLike, Transport } from '../transport';
import * as graphs from './graphs';

export class FakeSocket implements SocketLike {
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
export class FakeTransport implements Transport {
  sockets: FakeSocket[] = [];
  graphAnswers: (unknown | Error)[] = [];
  graphCalls = 0;
  /** What GET experiments answers. */
  experiments: unknown[] = [];

  async getJSON(path: string): Promise<unknown> {
    if (path === 'experiments') {
      return this.experiments;
    }
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

export const state = (prompt: string, extra: Partial<SessionState> = {}): SessionState => ({
  prompts: [prompt],
  active: 0,
  interventions: [],
  notes: {},
  reference_prompts: [],
  ...extra
});

export function summary(version: number, prompt = 'Hi'): RunSummary {
  return {
    op: 'run_summary',
    version,
    prompt,
    tokens: ['H', 'i'],
    token_ids: [41, 74],
    top_k: [[{ token: 'i', id: 74, prob: 0.5 }], [{ token: '!', id: 2, prob: 0.25 }]],
    loss: [1.5],
    head_dla: [[0.1, 0.2, 0.3, 0.4], [0, 0, 0, 0]],
    dla_token: { token: '!', id: 2, prob: 0.25 },
    logits_shape: [1, 2, 257],
    timing: { forward_ms: 1, resumed_from_layer: null, note: 'full forward' },
    metric: { spec: { kind: 'top_prob' }, label: "p('!')", value: 0.25, clean: 0.25, tokens: [{ token: '!', id: 2, prob: 0.25 }] }
  };
}

export async function live(transport: FakeTransport, store: CanvasStore, version = 1): Promise<FakeSocket> {
  store.start();
  await vi.waitFor(() => expect(transport.sockets.length).toBeGreaterThan(0));
  const socket = transport.socket;
  socket.receive({ op: 'state', version, state: state('Hi'), client_id: 'me' });
  return socket;
}

/** A binary node_data frame as the kernel sends it (float16 values). */
export function frame(header: object, values: number[]): ArrayBuffer {
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

/** A store on a fake transport, with fake timers and short delays; end it with endStore. */
export function newStore(): { transport: FakeTransport; store: CanvasStore } {
  vi.useFakeTimers();
  const transport = new FakeTransport();
  const store = new CanvasStore(transport, { debounceMs: 100, backoffMs: 100, maxBackoffMs: 400, pollMs: 1000 });
  return { transport, store };
}

export function endStore(store: CanvasStore): void {
  store.dispose();
  vi.useRealTimers();
}
