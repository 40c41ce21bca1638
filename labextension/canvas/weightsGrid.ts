/**
 * Pure reading of the weight tools for their cards: a [layer][head] table as a sweep heatmap's
 * grid (layers down, heads across), the head a graph node id names, and qk_positions' heads
 * ranked by a score with their profiles cut to the offsets shown.
 */
import type { PositionHead, QkPositionsResult } from '../protocol.generated';
import type { SweepGrid } from './patchingGrid';

/** A [layer][head] table as a heatmap grid. `scale` divides the colour value (the raw value is
 * kept for the tooltip): 1 for scores in [-1, 1], the largest value to stretch small ones. */
export function headGrid(values: number[][], layers?: number[], scale = 1): SweepGrid {
  const rows = layers ?? values.map((_, l) => l);
  const heads = values[0]?.length ?? 0;
  return {
    rows,
    cols: Array.from({ length: heads }, (_, h) => ({ text: `H${h}`, full: `head ${h}` })),
    colAxis: 'head',
    value: (r, c) => (scale > 0 ? values[r][c] / scale : values[r][c]),
    raw: (r, c) => values[r][c],
    cell: (r, c) => ({ layer: rows[r], head: c, position: null })
  };
}

/** Three significant figures: a tiny model's logits are 1e-4, a real one's 10. */
export function figure(value: number): string {
  return value.toPrecision(3);
}

export function headNode(layer: number, head: number): string {
  return `L${layer}.H${head}`;
}

/** The layer and head of a head's node id (`L3.H2`), or null for any other node. */
export function headOf(node: string | null | undefined): { layer: number; head: number } | null {
  const found = /^L(\d+)\.H(\d+)$/.exec(node ?? '');
  return found ? { layer: Number(found[1]), head: Number(found[2]) } : null;
}

/** The largest value of a table (0 when empty or all negative). */
export function tableMax(values: number[][]): number {
  return values.reduce((m, row) => row.reduce((n, v) => Math.max(n, v), m), 0);
}

export type PositionRank = 'previous' | 'peak' | 'first';

export const RANKS: { rank: PositionRank; label: string }[] = [
  { rank: 'previous', label: 'previous token (offset 1)' },
  { rank: 'peak', label: 'peak weight (any offset)' },
  { rank: 'first', label: 'first position' }
];

/** The `limit` heads of highest `rank` (ties keep the kernel's order). */
export function rankedHeads(result: QkPositionsResult, rank: PositionRank, limit: number): PositionHead[] {
  return [...result.heads].sort((a, b) => b[rank] - a[rank]).slice(0, limit);
}

/** Each head's score by `rank` as a [layer][head] table, in `result.layers` order. */
export function rankTable(result: QkPositionsResult, rank: PositionRank): number[][] {
  const [layers, heads] = result.shape;
  const table = Array.from({ length: layers }, () => new Array<number>(heads).fill(0));
  const row = new Map(result.layers.map((layer, i) => [layer, i]));
  for (const h of result.heads) {
    table[row.get(h.layer) ?? 0][h.head] = h[rank];
  }
  return table;
}

export interface ProfileRows {
  heads: PositionHead[];
  /** [head][offset] for offsets 0..offsets-1 */
  values: number[][];
  offsets: number;
  /** The largest value shown: the colour scale's top. */
  max: number;
}

/** The profiles of `heads`, cut to the first `maxOffsets` offsets. */
export function profileRows(result: QkPositionsResult, heads: PositionHead[], maxOffsets: number): ProfileRows {
  const offsets = Math.min(maxOffsets, result.shape[2] ?? 0);
  const row = new Map(result.layers.map((layer, i) => [layer, i]));
  const values = heads.map(h => result.profile[row.get(h.layer) ?? 0][h.head].slice(0, offsets));
  return { heads, values, offsets, max: tableMax(values) };
}

/** The width of an offset's column: narrower as more offsets are shown, so that 32 fit a
 * narrow card (8 to 14 px). */
export function columnWidth(offsets: number): number {
  return Math.max(8, Math.min(14, Math.floor(360 / Math.max(offsets, 1))));
}

/** What the profile was computed from, in words. */
export function profileSource(result: QkPositionsResult): string {
  if (result.method === 'weights') {
    return `from W_pos${result.norm ? ' through ln1' : ''}, the first ${result.length} positions (no tokens)`;
  }
  const samples = result.samples ?? 0;
  return `measured on ${samples} random sequence${samples === 1 ? '' : 's'} of ${result.length} tokens (seed ${result.seed ?? 0})`;
}
