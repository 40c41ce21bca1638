import { describe, expect, it } from 'vitest';

import { CHAR_WIDTH, LABEL_CHARS, axisLabels, blockMax, heatmapLayout } from './heatmapAxes';

describe('heatmap axes', () => {
  it('label positions with readable, ellipsized tokens and the whole token in a tooltip', () => {
    const labels = axisLabels(['<|im_start|>user', ' Paris', 'a\u200bb'], 4);
    expect(labels.map(l => l.text)).toEqual(['<|im_start|\u2026', '\u2423Paris', 'a\\u200bb', '3']);
    expect(labels[0].full).toBe('position 0: "<|im_start|>user"');
    expect(labels[2].full).toBe('position 2: "a\\u200bb"');
    expect(Array.from(labels[0].text)).toHaveLength(LABEL_CHARS);
  });

  it('make room for the longest label, the axis titles and the scale', () => {
    const short = heatmapLayout(2, 2, 14, axisLabels(['a', 'b'], 2), axisLabels(['a', 'b'], 2));
    const long = heatmapLayout(2, 2, 14, axisLabels(['<|im_start|>', 'b'], 2), axisLabels(['<|im_start|>', 'b'], 2));
    expect(long.left - short.left).toBeCloseTo(11 * CHAR_WIDTH);
    expect(long.top).toBeGreaterThan(short.top);
    // The left gutter holds the "query" title and a 12-character label beside the cells.
    expect(long.left).toBeGreaterThanOrEqual(12 * CHAR_WIDTH + 12);
    // Rotated column labels lean right past the last column; the scale sits under the cells.
    expect(long.width).toBeGreaterThan(long.left + 2 * 14);
    expect(long.height).toBeGreaterThan(long.top + 2 * 14 + 16);
  });

  it('leave out every gutter for small multiples without labels', () => {
    expect(heatmapLayout(3, 3, 5, null, null)).toMatchObject({ left: 0, top: 0, width: 15, height: 15 });
  });

  it("find a block's largest weight (the scale's top end)", () => {
    const values = new Float32Array([0.1, 0.9, 0.2, 0.4, 0.3, 0.25]);
    expect(blockMax(values, 0, 3)).toBeCloseTo(0.9);
    expect(blockMax(values, 3, 3)).toBeCloseTo(0.4);
    expect(blockMax(new Float32Array([NaN, 0]), 0, 2)).toBe(0);
  });
});
