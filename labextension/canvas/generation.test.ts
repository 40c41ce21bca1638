import { describe, expect, it } from 'vitest';

import { describeIntervention } from './format';
import { streamed } from './generation';

describe('streamed', () => {
  it('reads the column and the text so far, newlines and colons included', () => {
    expect(streamed('clean: Once upon')).toEqual(['clean', 'Once upon']);
    expect(streamed('steered: a: b\nc')).toEqual(['steered', 'a: b\nc']);
    expect(streamed('steered: ')).toEqual(['steered', '']);
  });

  it('ignores other labels', () => {
    expect(streamed('scanning windows')).toBeNull();
    expect(streamed('cleaner: x')).toBeNull();
  });
});

describe('describeIntervention of a steer', () => {
  it('names the node, the scale and the source', () => {
    const source = { kind: 'mean_diff' as const, positive: ['a', 'b'], negative: ['c'] };
    expect(describeIntervention({ kind: 'steer', node: 'L3.resid_pre', scale: 4, source, positions: [1] })).toBe(
      'steer L3.resid_pre by 4 \u00d7 mean of 2 prompts \u2212 mean of 1 at positions 1'
    );
    expect(describeIntervention({ kind: 'steer', node: 'L0.mlp', source: { kind: 'neuron', neuron: 'L0.mlp.N5' } })).toBe(
      'steer L0.mlp by 1 \u00d7 the output direction of L0.mlp.N5'
    );
  });
});
