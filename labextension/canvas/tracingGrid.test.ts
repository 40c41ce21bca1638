import { describe, expect, it } from 'vitest';

import type { TracingResult } from '../protocol.generated';
import { traceGrid } from './tracingGrid';

const result: TracingResult = {
  text: 'The Eiffel Tower is in',
  tokens: ['<s>', 'The', ' Eiffel', ' Tower', ' is'],
  subject: 'The Eiffel Tower',
  subject_positions: [1, 2, 3],
  answer: ' Paris',
  answer_id: 7,
  embed_std: 0.1,
  noise_std: 0.3,
  samples: 2,
  seed: 0,
  clean_prob: 0.5,
  corrupted_prob: 0.1,
  layers: [0, 1],
  positions: [0, 1, 2, 3, 4],
  traces: [{ kind: 'resid_pre', restored: [[0], [1]], probs: [[0.1, 0.5, 0.3, 0.1, 0.1], [0.1, 0.1, 0.1, 0.2, 0.7]] }],
  forwards: 3,
  copies_per_forward: 10,
  skipped: 0,
  resumed: true
};

describe('causal trace grid', () => {
  it('reads probabilities by layer and position, scaled from the noised run to the clean one', () => {
    const grid = traceGrid(result, result.traces[0]);
    expect(grid.rows).toEqual([0, 1]);
    expect(grid.raw(0, 1)).toBe(0.5);
    expect(grid.value(0, 1)).toBeCloseTo(1);
    expect(grid.value(0, 0)).toBeCloseTo(0);
    expect(grid.value(1, 4)).toBeCloseTo(1.5);
    expect(grid.cols.map(c => c.text)).toEqual(['<s>', '*The', '*␣Eiff…', '*␣Tower', '␣is']);
    expect(grid.cols[2].full).toContain('noised subject');
  });

  it('has no scaled value when the noise changed nothing', () => {
    const flat = { ...result, corrupted_prob: 0.5 };
    expect(traceGrid(flat, flat.traces[0]).value(0, 1)).toBeNull();
  });
});
