import { describe, expect, it } from 'vitest';

import { attentionTint, overlayCells } from './attention';

// A causal 3x3 pattern [query, key]: each row sums to 1.
const pattern = new Float32Array([1, 0, 0, 0.25, 0.75, 0, 0.5, 0.125, 0.375]);

describe('attentionTint', () => {
  it('reads the hovered token as query along its row', () => {
    expect(attentionTint(pattern, 3, 2, 'query')).toEqual([0.5, 0.125, 0.375]);
  });

  it('reads the hovered token as key down its column', () => {
    expect(attentionTint(pattern, 3, 0, 'key')).toEqual([1, 0.25, 0.5]);
  });

  it('gives nothing for a position or pattern that does not fit', () => {
    expect(attentionTint(pattern, 3, 3, 'query')).toEqual([]);
    expect(attentionTint(pattern, 4, 0, 'query')).toEqual([]);
  });
});

describe('overlayCells', () => {
  // Two heads over 1 query x 2 keys: head 0 [0.75, 0.25], head 1 [0.25, 0.001].
  const values = new Float32Array([0.75, 0.25, 0.25, 0.001]);

  it('takes the strongest head of each cell, its weight and its share', () => {
    const [first, second] = overlayCells(values, 2, 1, 2);
    expect(first).toEqual({ query: 0, key: 0, top: 0, weight: 0.75, share: 0.75 });
    expect(second.top).toBe(0);
    expect(second.weight).toBeCloseTo(0.25);
    expect(second.share).toBeCloseTo(0.25 / 0.251);
  });

  it('drops cells every head leaves below the floor', () => {
    expect(overlayCells(values, 2, 1, 2, 0.3)).toHaveLength(1);
    expect(overlayCells(new Float32Array(4), 2, 1, 2)).toEqual([]);
  });
});
