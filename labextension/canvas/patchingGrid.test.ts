import { describe, expect, it } from 'vitest';

import type { PatchingResult } from '../protocol.generated';
import { cellPatch, divergingColor, sweepGrid, sweepTints } from './patchingGrid';

function result(extra: Partial<PatchingResult>): PatchingResult {
  return {
    sweep: 'resid_pre',
    pair: { clean: 'a b c', corrupt: 'a x c' },
    axes: ['layer', 'position'],
    shape: [2, 3],
    layers: [0, 1],
    positions: [0, 1, 2],
    clean_tokens: ['a', ' b', ' c'],
    corrupt_tokens: ['a', ' x', ' c'],
    hooks: ['blocks.0.hook_resid_pre', 'blocks.1.hook_resid_pre'],
    metric: { kind: 'top_prob' },
    metric_label: "p(' c')",
    clean_value: 1,
    corrupt_value: 0,
    values: [0, 1, 0.5, 0, 0.25, -0.5],
    raw: [10, 11, 12, 13, 14, 15],
    forwards: 1,
    copies_per_forward: 6,
    skipped: 0,
    resumed: true,
    ...extra
  };
}

describe('patching sweep grid', () => {
  it('reads a layer x position sweep row-major, with token labels', () => {
    const grid = sweepGrid(result({}));
    expect(grid.rows).toEqual([0, 1]);
    expect(grid.cols.map(c => c.text)).toEqual(['a', '␣x', '␣c']);
    expect(grid.value(1, 2)).toBe(-0.5);
    expect(grid.raw(1, 1)).toBe(14);
    expect(grid.cell(1, 2)).toEqual({ layer: 1, head: null, position: 2 });
  });

  it('slices a layer x head x position sweep at one position', () => {
    const values = Array.from({ length: 2 * 2 * 3 }, (_, i) => i);
    const r = result({ sweep: 'head_out_by_pos', axes: ['layer', 'head', 'position'], shape: [2, 2, 3], values, raw: values });
    const grid = sweepGrid(r, 2);
    expect(grid.colAxis).toBe('head');
    expect(grid.value(1, 0)).toBe((1 * 2 + 0) * 3 + 2);
    expect(grid.cell(1, 1)).toEqual({ layer: 1, head: 1, position: 2 });
    expect(cellPatch(r, grid.cell(1, 1))).toMatchObject({ node: 'L1.H1', source: 'L1.H1', source_prompt: 'a b c', positions: [2] });
  });

  it('turns a cell into the very patch it measured, where a node patch can make it', () => {
    expect(cellPatch(result({}), { layer: 1, head: null, position: 2 })).toEqual({
      kind: 'patch',
      id: '',
      node: 'L1.resid_pre',
      source: 'L1.resid_pre',
      source_prompt: 'a b c',
      positions: [2]
    });
    const heads = result({ sweep: 'head_out', axes: ['layer', 'head'], positions: null });
    expect(cellPatch(heads, sweepGrid(heads).cell(0, 1))).toMatchObject({ node: 'L0.H1', positions: null });
    expect(cellPatch(result({ sweep: 'q', axes: ['layer', 'head'] }), { layer: 0, head: 1, position: null })).toBeNull();
    expect(cellPatch(result({ sweep: 'mlp_out' }), { layer: 0, head: null, position: 1 })?.node).toBe('L0.mlp');
  });

  it('colours on a diverging scale, clamped, grey without a value', () => {
    expect(divergingColor(1)).toContain('var(--tp-diverging-up) 100%');
    expect(divergingColor(3)).toContain('100%');
    expect(divergingColor(-0.25)).toContain('var(--tp-diverging-down) 25%');
    expect(divergingColor(null)).toBe('var(--jp-layout-color2)');
  });
});

describe('sweep tints', () => {
  it('gives each node its largest cell, sign kept, and nothing for pattern sweeps', () => {
    const tints = sweepTints(result({}));
    expect(tints.get('L0.resid_pre')).toBe(1);
    expect(tints.get('L1.resid_pre')).toBe(-0.5);
    const values = [0.1, -0.9, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1, 0];
    const byPos = result({ sweep: 'head_out_by_pos', axes: ['layer', 'head', 'position'], shape: [2, 2, 3], values, raw: values });
    expect(sweepTints(byPos).get('L0.H0')).toBe(-0.9);
    expect(sweepTints(byPos).get('L1.H1')).toBe(1);
    expect(sweepTints(result({ sweep: 'head_pattern', axes: ['layer', 'head'] })).size).toBe(0);
    expect(sweepTints(result({ values: null })).size).toBe(0);
  });
});
