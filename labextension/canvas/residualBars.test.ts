import { describe, expect, it } from 'vitest';

import type { ResidualResult } from '../protocol.generated';
import { axisTicks, placeComponent, residualBars } from './residualBars';

/** Two layers of two heads, at two positions; the second column is the one read. */
function result(components: string[], values: number[]): ResidualResult {
  return {
    positions: [3, 4],
    n_tokens: 5,
    labels: ["logit(' a')", "logit(' b')"],
    token_ids: [[1], [2]],
    components,
    contributions: [components.map(() => 9), values],
    total: [0, values.reduce((a, b) => a + b, 0)],
    logit: [0, values.reduce((a, b) => a + b, 0)],
    rows: ['L0.resid_pre', 'L1.resid_pre', 'L1.resid_post'],
    norms: [
      [1, 10],
      [2, 20],
      [3, 30]
    ],
    cumulative: [
      [1, 0.5],
      [2, 1.5],
      [3, 2.5]
    ]
  };
}

const NAMES = ['embed', 'pos_embed', 'L0.H0', 'L0.H1', 'L0.b_O', 'L0.mlp', 'L1.H0', 'L1.H1', 'L1.b_O', 'L1.mlp', 'ln_final.b', 'b_U'];
const VALUES = [0.25, 0.25, 1, -0.5, 0.125, -1, 2, -2, 0, 0.5, 0.25, -0.25];

describe('residualBars', () => {
  it('groups the components by layer, embeddings first and the final biases last', () => {
    const { bars } = residualBars(result(NAMES, VALUES), 1);
    expect(bars.map(b => b.key)).toEqual(['embed', 'L0', 'L1', 'final']);
    expect(bars.map(b => b.segments.map(s => s.name))).toEqual([
      ['embed', 'pos_embed'],
      ['L0.H0', 'L0.H1', 'L0.b_O', 'L0.mlp'],
      ['L1.H0', 'L1.H1', 'L1.b_O', 'L1.mlp'],
      ['ln_final.b', 'b_U']
    ]);
    expect(bars[1].segments.map(s => s.kind)).toEqual(['head', 'head', 'attn_bias', 'mlp']);
    expect(bars[1].segments.map(s => s.node)).toEqual(['L0.H0', 'L0.H1', 'L0.attn', 'L0.mlp']);
    expect(bars[3].segments.map(s => s.node)).toEqual(['ln_final', 'unembed']);
  });

  it('adds each bar up to its total and carries its residual row', () => {
    const { bars } = residualBars(result(NAMES, VALUES), 1);
    expect(bars.map(b => b.total)).toEqual([0.5, -0.375, 0.5, 0]);
    expect(bars.map(b => [b.positive, b.negative])).toEqual([
      [0.5, 0],
      [1.125, -1.5],
      [2.5, -2],
      [0.25, -0.25]
    ]);
    expect(bars.map(b => [b.row, b.norm, b.cumulative])).toEqual([
      ['L0.resid_pre', 10, 0.5],
      ['L1.resid_pre', 20, 1.5],
      ['L1.resid_post', 30, 2.5],
      [null, null, 0.625]
    ]);
  });

  it('stacks positive segments right of zero and negative ones left, on one shared scale', () => {
    const bars = residualBars(result(NAMES, VALUES), 1);
    expect([bars.lo, bars.hi]).toEqual([-2, 2.5]);
    const x = (v: number): number => (v + 2) / 4.5;
    expect(bars.zero).toBeCloseTo(x(0));
    const layer0 = bars.bars[1].segments.map(s => [s.x0, s.x1]);
    // H0 +1 from 0; H1 -0.5 from 0; b_O +0.125 on top of H0; mlp -1 below H1.
    const expected = [
      [x(0), x(1)],
      [x(-0.5), x(0)],
      [x(1), x(1.125)],
      [x(-1.5), x(-0.5)]
    ];
    layer0.forEach(([a, b], i) => {
      expect(a).toBeCloseTo(expected[i][0]);
      expect(b).toBeCloseTo(expected[i][1]);
    });
    for (const bar of bars.bars) {
      const width = bar.segments.reduce((sum, s) => sum + (s.value < 0 ? -1 : 1) * (s.x1 - s.x0), 0);
      expect(width * 4.5).toBeCloseTo(bar.total);
      for (const s of bar.segments) {
        expect(s.x0).toBeGreaterThanOrEqual(0);
        expect(s.x1).toBeLessThanOrEqual(1 + 1e-12);
        expect(s.value < 0 ? s.x1 <= bars.zero + 1e-12 : s.x0 >= bars.zero - 1e-12).toBe(true);
      }
    }
  });

  it('puts edits in their own bar before the final biases', () => {
    const names = [...NAMES.slice(0, 10), 'edits', 'ln_final.b', 'b_U'];
    const values = [...VALUES.slice(0, 10), -3, 0.25, -0.25];
    const { bars, lo } = residualBars(result(names, values), 1);
    expect(bars.map(b => b.key)).toEqual(['embed', 'L0', 'L1', 'edits', 'final']);
    const edits = bars[3];
    expect(edits.segments).toMatchObject([{ name: 'edits', node: null, kind: 'edits', value: -3 }]);
    expect(edits.row).toBeNull();
    expect(lo).toBe(-3);
    expect(edits.segments[0].x0).toBeCloseTo(0);
  });

  it('gives a bar to a layer whose contributions are all zero, and a scale when all are', () => {
    const names = ['embed', 'L0.H0', 'L1.H0'];
    const zeros = residualBars(result(names, [0, 0, 0]), 1);
    expect(zeros.bars.map(b => [b.key, b.total, b.segments.length])).toEqual([
      ['embed', 0, 1],
      ['L0', 0, 1],
      ['L1', 0, 1]
    ]);
    expect(zeros.zero).toBe(0.5);
    expect(zeros.bars[1].segments[0].x0).toBe(zeros.bars[1].segments[0].x1);
    // A layer with no component at all (attention-only, no bias) still gets its bar.
    const missing = residualBars(result(['embed', 'L1.H0'], [1, 1]), 1);
    expect(missing.bars.map(b => [b.key, b.segments.length, b.row])).toEqual([
      ['embed', 1, 'L0.resid_pre'],
      ['L0', 0, 'L1.resid_pre'],
      ['L1', 1, 'L1.resid_post']
    ]);
  });

  it('names the node each component selects', () => {
    expect(placeComponent('L12.H7')).toEqual({ bar: 'L12', kind: 'head', node: 'L12.H7' });
    expect(placeComponent('L3.b_O')).toEqual({ bar: 'L3', kind: 'attn_bias', node: 'L3.attn' });
    expect(placeComponent('L3.mlp')).toEqual({ bar: 'L3', kind: 'mlp', node: 'L3.mlp' });
    expect(placeComponent('pos_embed')).toEqual({ bar: 'embed', kind: 'pos_embed', node: 'pos_embed' });
    expect(placeComponent('b_U')).toEqual({ bar: 'final', kind: 'bias', node: 'unembed' });
  });

  it('labels the scale at its ends, and at zero where it leaves them room', () => {
    expect(axisTicks({ lo: -1, hi: 1, zero: 0.5 })).toEqual([
      { value: -1, at: 0, align: 'start' },
      { value: 0, at: 0.5, align: 'middle' },
      { value: 1, at: 1, align: 'end' }
    ]);
    expect(axisTicks({ lo: -0.1, hi: 1.9, zero: 0.05 }).map(t => t.value)).toEqual([-0.1, 1.9]);
    expect(axisTicks({ lo: 0, hi: 2, zero: 0 })).toEqual([
      { value: 0, at: 0, align: 'start' },
      { value: 2, at: 1, align: 'end' }
    ]);
    expect(axisTicks({ lo: -2, hi: 0, zero: 1 }).map(t => [t.value, t.align])).toEqual([
      [-2, 'start'],
      [0, 'end']
    ]);
    expect(axisTicks({ lo: 0, hi: 0, zero: 0.5 })).toEqual([{ value: 0, at: 0.5, align: 'middle' }]);
  });
});
