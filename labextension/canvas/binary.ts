/**
 * Binary tensor frames (DESIGN invariant 3): a 4-byte little-endian header length, a JSON
 * NodeDataHeader padded so the values start on an 8-byte boundary, then float16 or float32
 * little-endian values. The values are wrapped, never parsed as JSON numbers.
 */
import type { NodeDataHeader } from '../protocol.generated';

export interface Tensor {
  header: NodeDataHeader;
  shape: number[];
  values: Float32Array;
}

export function decodeTensorFrame(buffer: ArrayBuffer): Tensor {
  if (buffer.byteLength < 4) {
    throw new Error(`binary frame of ${buffer.byteLength} bytes has no header`);
  }
  const headerLength = new DataView(buffer).getUint32(0, true);
  const start = 4 + headerLength;
  if (start > buffer.byteLength) {
    throw new Error(`binary frame header of ${headerLength} bytes runs past the frame`);
  }
  const header = JSON.parse(new TextDecoder().decode(new Uint8Array(buffer, 4, headerLength))) as NodeDataHeader;
  const count = header.shape.reduce((a, b) => a * b, 1);
  const width = header.dtype === 'float16' ? 2 : 4;
  if (start + count * width !== buffer.byteLength) {
    throw new Error(`binary frame holds ${buffer.byteLength - start} bytes, shape ${header.shape} needs ${count * width}`);
  }
  const values =
    header.dtype === 'float16'
      ? float16ToFloat32(littleEndian16(buffer, start, count))
      : littleEndian32(buffer, start, count);
  return { header, shape: header.shape, values };
}

const LITTLE = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function littleEndian16(buffer: ArrayBuffer, start: number, count: number): Uint16Array {
  if (LITTLE && start % 2 === 0) {
    return new Uint16Array(buffer, start, count);
  }
  const view = new DataView(buffer, start);
  return Uint16Array.from({ length: count }, (_, i) => view.getUint16(2 * i, true));
}

function littleEndian32(buffer: ArrayBuffer, start: number, count: number): Float32Array {
  if (LITTLE && start % 4 === 0) {
    return new Float32Array(buffer, start, count);
  }
  const view = new DataView(buffer, start);
  return Float32Array.from({ length: count }, (_, i) => view.getFloat32(4 * i, true));
}

/** IEEE 754 half precision bits -> float32 values (subnormals, infinities and NaN included). */
export function float16ToFloat32(bits: Uint16Array): Float32Array {
  const out = new Float32Array(bits.length);
  for (let i = 0; i < bits.length; i++) {
    const h = bits[i];
    const sign = h & 0x8000 ? -1 : 1;
    const exponent = (h >> 10) & 0x1f;
    const fraction = h & 0x3ff;
    if (exponent === 0) {
      out[i] = sign * fraction * 2 ** -24;
    } else if (exponent === 0x1f) {
      out[i] = fraction ? NaN : sign * Infinity;
    } else {
      out[i] = sign * (1 + fraction / 1024) * 2 ** (exponent - 15);
    }
  }
  return out;
}
