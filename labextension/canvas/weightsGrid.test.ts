import { describe, expect, it } from 'vitest';

import type { PositionHead, QkPositionsResult } from '../protocol.generated';
import { columnWidth, figure, headGrid, headOf, profileRows, profileSource, rankTable, rankedHeads, tableMax } from './weightsGrid';

function head(layer: number, h: number, previous: number, peak: number, first: number): PositionHead {
  return { node: `L${layer}.H${h}`, layer, head: h, previous, peak_offset: 1, peak, first };
}

function result(extra: Partial<QkPositionsResult> = {}): QkPositionsResult {
  return {
    method: 'random_tokens',
    length: 3,
    samples: 2,
    seed: 0,
    norm: null,
    layers: [0, 1],
    shape: [2, 2, 3],
    profile: [
      [
        [0.5, 0.3, 0.2],
        [0.4, 0.4, 0.2]
      ],
      [
        [0.1, 0.8, 0.1],
        [0.6, 0.2, 0.9]
      ]
    ],
    heads: [head(1, 0, 0.8, 0.8, 0.1), head(0, 1, 0.4, 0.4, 0.2), head(0, 0, 0.3, 0.5, 0.2), head(1, 1, 0.2, 0.9, 0.9)],
    ...extra
  };
}

describe('headGrid', () => {
  it('has layers down, heads across, raw values and scaled colour values', () => {
    const grid = headGrid([
      [0.5, -1],
      [0.25, 1]
    ]);
    expect(grid.rows).toEqual([0, 1]);
    expect(grid.cols.map(c => c.text)).toEqual(['H0', 'H1']);
    expect(grid.value(0, 1)).toBe(-1);
    expect(grid.cell(1, 0)).toEqual({ layer: 1, head: 0, position: null });
    const scaled = headGrid([[0.5, 0.25]], [3], 0.5);
    expect(scaled.rows).toEqual([3]);
    expect(scaled.value(0, 1)).toBe(0.5);
    expect(scaled.raw(0, 1)).toBe(0.25);
    expect(scaled.cell(0, 1).layer).toBe(3);
  });
});

describe('figure', () => {
  it('keeps three significant figures of small and large values', () => {
    expect(figure(0.000123456)).toBe('0.000123');
    expect(figure(-12.345)).toBe('-12.3');
  });
});

describe('headOf', () => {
  it('reads a head node id and nothing else', () => {
    expect(headOf('L12.H3')).toEqual({ layer: 12, head: 3 });
    expect(headOf('L1.attn')).toBeNull();
    expect(headOf('L1.H2.x')).toBeNull();
    expect(headOf(null)).toBeNull();
  });
});

describe('positional profiles', () => {
  it('ranks heads by the chosen score and cuts profiles to the offsets shown', () => {
    const r = result();
    expect(rankedHeads(r, 'peak', 2).map(h => h.node)).toEqual(['L1.H1', 'L1.H0']);
    expect(rankedHeads(r, 'previous', 10).map(h => h.node)).toEqual(['L1.H0', 'L0.H1', 'L0.H0', 'L1.H1']);
    const rows = profileRows(r, rankedHeads(r, 'first', 2), 2);
    expect(rows.heads.map(h => h.node)).toEqual(['L1.H1', 'L0.H1']);
    expect(rows.values).toEqual([
      [0.6, 0.2],
      [0.4, 0.4]
    ]);
    expect(rows.offsets).toBe(2);
    expect(rows.max).toBe(0.6);
    expect(profileRows(r, r.heads, 99).offsets).toBe(3);
  });

  it('tables a score by layer and head, one layer too', () => {
    expect(rankTable(result(), 'previous')).toEqual([
      [0.3, 0.4],
      [0.8, 0.2]
    ]);
    const one = result({ layers: [1], shape: [1, 2, 3], profile: [result().profile[1]], heads: result().heads.filter(h => h.layer === 1) });
    expect(rankTable(one, 'first')).toEqual([[0.1, 0.9]]);
    expect(profileRows(one, one.heads, 3).values[0]).toEqual([0.1, 0.8, 0.1]);
    expect(tableMax([[-1, -2]])).toBe(0);
  });

  it('narrows the offset columns as more are shown', () => {
    expect(columnWidth(16)).toBe(14);
    expect(columnWidth(32)).toBe(11);
    expect(columnWidth(64)).toBe(8);
    expect(columnWidth(0)).toBe(14);
  });

  it('says what the profile was computed from', () => {
    expect(profileSource(result())).toBe('measured on 2 random sequences of 3 tokens (seed 0)');
    expect(profileSource(result({ method: 'weights', norm: true, samples: null, seed: null }))).toBe(
      'from W_pos through ln1, the first 3 positions (no tokens)'
    );
  });
});
