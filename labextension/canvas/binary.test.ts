import { describe, expect, it } from 'vitest';

import { decodeTensorFrame, float16ToFloat32 } from './binary';

function frame(header: Record<string, unknown>, data: ArrayBuffer): ArrayBuffer {
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - ((4 + json.length) % 8)) % 8);
  const out = new Uint8Array(4 + json.length + data.byteLength);
  new DataView(out.buffer).setUint32(0, json.length, true);
  out.set(new TextEncoder().encode(json), 4);
  out.set(new Uint8Array(data), 4 + json.length);
  return out.buffer;
}

const header = (dtype: string, shape: number[]): Record<string, unknown> => ({
  op: 'node_data', request_id: 'r1', node: 'L0.H0', what: 'pattern', dtype, shape
});

describe('decodeTensorFrame', () => {
  it('wraps float32 values without copying them', () => {
    const values = new Float32Array([0.25, -1.5, 3, 1e-8, 7, 8]);
    const tensor = decodeTensorFrame(frame(header('float32', [2, 3]), values.buffer));
    expect(tensor.shape).toEqual([2, 3]);
    expect([...tensor.values]).toEqual([...values]);
    expect(tensor.header.node).toBe('L0.H0');
    expect(tensor.values.byteOffset % 8).toBe(0);
  });

  it('converts float16 values', () => {
    const bits = new Uint16Array([0x3c00, 0xc000, 0x3555, 0x0001, 0x7c00, 0xfc00, 0x0000, 0x7bff]);
    const tensor = decodeTensorFrame(frame(header('float16', [8]), bits.buffer));
    const v = [...tensor.values];
    expect(v[0]).toBe(1);
    expect(v[1]).toBe(-2);
    expect(v[2]).toBeCloseTo(0.33325, 4);
    expect(v[3]).toBeCloseTo(5.96e-8, 9);
    expect(v[4]).toBe(Infinity);
    expect(v[5]).toBe(-Infinity);
    expect(v[6]).toBe(0);
    expect(v[7]).toBe(65504);
  });

  it('refuses a frame whose size does not match its shape', () => {
    const values = new Float32Array([1, 2, 3]);
    expect(() => decodeTensorFrame(frame(header('float32', [2, 2]), values.buffer))).toThrow(/needs 16/);
    expect(() => decodeTensorFrame(new ArrayBuffer(2))).toThrow(/no header/);
  });

  it('handles NaN', () => {
    expect(Number.isNaN(float16ToFloat32(new Uint16Array([0x7e00]))[0])).toBe(true);
  });
});
