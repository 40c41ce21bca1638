/**
 * Pure reading of an activation patching sweep for its heatmap: rows are layers, columns
 * positions or heads (a sweep by head and position shows one position at a time), each cell's
 * normalized and raw values, its colour on a diverging scale, and the very patch it stands for.
 */
import type { Intervention, PatchingResult } from '../protocol.generated';
import { ellipsize, quoteToken, showToken } from './format';

export interface SweepCell {
  layer: number;
  head: number | null;
  position: number | null;
}

export interface SweepGrid {
  rows: number[];
  /** Column labels, and their tooltips. */
  cols: { text: string; full: string }[];
  /** What the columns are. */
  colAxis: 'position' | 'head' | 'kv_head';
  /** Normalized value (0 = corrupt, 1 = clean), or null when the sweep has none. */
  value: (r: number, c: number) => number | null;
  raw: (r: number, c: number) => number;
  cell: (r: number, c: number) => SweepCell;
}

/** What a grid is read from: an activation patching sweep, or its attribution estimate. */
export type SweepLike = Pick<PatchingResult, 'axes' | 'shape' | 'layers' | 'positions' | 'corrupt_tokens' | 'values' | 'raw'>;

/** The grid of `result`; for a sweep by layer, head and position, the slice at position index
 * `slice`. */
export function sweepGrid(result: SweepLike, slice = 0): SweepGrid {
  const [, second, third] = result.axes;
  const positions = result.positions ?? [];
  const three = third !== undefined;
  const colAxis = second as SweepGrid['colAxis'];
  const nCols = result.shape[1];
  const index = (r: number, c: number): number => (three ? (r * nCols + c) * result.shape[2] + slice : r * nCols + c);
  const position = (c: number): number | null => (three ? (positions[slice] ?? null) : colAxis === 'position' ? (positions[c] ?? null) : null);
  const tokens = result.corrupt_tokens;
  const cols = Array.from({ length: nCols }, (_, c) => {
    if (colAxis !== 'position') {
      return { text: `H${c}`, full: `${colAxis === 'kv_head' ? 'kv head' : 'head'} ${c}` };
    }
    const p = positions[c] ?? c;
    const token = tokens[p] ?? '';
    return { text: ellipsize(showToken(token), 6), full: `position ${p}: ${quoteToken(token)}` };
  });
  return {
    rows: result.layers,
    cols,
    colAxis,
    value: (r, c) => (result.values ? result.values[index(r, c)] : null),
    raw: (r, c) => result.raw[index(r, c)],
    cell: (r, c) => ({
      layer: result.layers[r],
      head: colAxis === 'position' ? null : c,
      position: position(c)
    })
  };
}

const NODE_OF: Partial<Record<PatchingResult['sweep'], (cell: SweepCell) => string>> = {
  resid_pre: c => `L${c.layer}.resid_pre`,
  attn_out: c => `L${c.layer}.attn`,
  mlp_out: c => `L${c.layer}.mlp`,
  head_out: c => `L${c.layer}.H${c.head}`,
  head_out_by_pos: c => `L${c.layer}.H${c.head}`
};

/** The intervention a cell stands for: the node's value from the clean prompt, at the cell's
 * position (a head's whole output for head_out), run on the corrupt prompt. Null for sweeps no
 * node patch can make (a pattern, q, k or v). */
export function cellPatch(result: PatchingResult, cell: SweepCell): Intervention | null {
  const nodeOf = NODE_OF[result.sweep];
  if (!nodeOf || (result.sweep.startsWith('head') && cell.head === null)) {
    return null;
  }
  const node = nodeOf(cell);
  return {
    kind: 'patch',
    id: '',
    node,
    source: node,
    source_prompt: result.pair.clean,
    positions: cell.position === null ? null : [cell.position]
  };
}

/** A diverging colour: 0 the background, towards red as a cell restores the clean metric (1),
 * towards blue past the corrupt run's (negative); clamped at ±1. */
export function divergingColor(value: number | null): string {
  if (value === null || !Number.isFinite(value)) {
    return 'var(--jp-layout-color2)';
  }
  const share = Math.round(Math.min(1, Math.abs(value)) * 100);
  const hue = value >= 0 ? 'var(--tp-diverging-up)' : 'var(--tp-diverging-down)';
  return `color-mix(in srgb, ${hue} ${share}%, var(--jp-layout-color1))`;
}

/** Each graph node's score in a sweep, to tint the graph by: a head its cell (head_out), a
 * residual, attention or MLP node the cell of largest size over its positions (sign kept).
 * Sweeps of patterns, queries, keys or values tint nothing (no node patch stands for them). */
export function sweepTints(result: PatchingResult): Map<string, number> {
  const tints = new Map<string, number>();
  const nodeOf = NODE_OF[result.sweep];
  if (!nodeOf || !result.values) {
    return tints;
  }
  const grid = sweepGrid(result);
  const three = result.axes.length === 3;
  const depth = three ? result.shape[2] : 1;
  grid.rows.forEach((layer, r) => {
    grid.cols.forEach((_, c) => {
      for (let s = 0; s < depth; s++) {
        const value = three ? sweepGrid(result, s).value(r, c) : grid.value(r, c);
        const node = nodeOf({ layer, head: grid.colAxis === 'position' ? null : c, position: null });
        const kept = tints.get(node);
        if (value !== null && (kept === undefined || Math.abs(value) > Math.abs(kept))) {
          tints.set(node, value);
        }
      }
    });
  });
  return tints;
}
