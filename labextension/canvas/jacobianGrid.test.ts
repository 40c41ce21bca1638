import { describe, expect, it } from 'vitest';

import type { LogitLens } from '../protocol.generated';
import { disagreement, jacobianRows } from './jacobianGrid';

const lens: LogitLens = {
  kind: 'jacobian',
  layers: ['L1.resid_pre', 'L2.resid_pre', 'L10.resid_pre', 'L10.resid_post'],
  positions: [3, 4],
  n_tokens: 5,
  token_ids: [[1, 2], [3, 4], [5, 6], [7, 8]],
  tokens: [['a', 'b'], ['c', 'd'], ['e', 'f'], ['g', 'h']],
  probs: [[0.1, 0.2], [0.3, 0.4], [0.5, 0.6], [0.7, 0.8]],
  no_transport: ['L0.resid_pre'],
  logit_token_ids: [[1, 9], [3, 4], [0, 6], [7, 8]],
  logit_tokens: [['a', 'z'], ['c', 'd'], ['y', 'f'], ['g', 'h']]
};

describe('Jacobian lens grid', () => {
  it('puts the rows with no transport matrix in lens order, numerically (L2 before L10)', () => {
    const rows = jacobianRows(lens);
    expect(rows.map(r => r.row)).toEqual(['L0.resid_pre', 'L1.resid_pre', 'L2.resid_pre', 'L10.resid_pre', 'L10.resid_post']);
    expect(rows[0].cells).toBeNull();
    expect(rows[3].cells?.map(c => [c.position, c.token, c.prob])).toEqual([
      [3, 'e', 0.5],
      [4, 'f', 0.6]
    ]);
  });

  it('marks exactly the cells whose top-1 differs from the logit lens, with its token', () => {
    const rows = jacobianRows(lens);
    const marks = rows.flatMap(r => (r.cells ?? []).filter(c => c.logitToken !== null).map(c => `${r.row}@${c.position}:${c.logitToken}`));
    expect(marks).toEqual(['L1.resid_pre@4:z', 'L10.resid_pre@3:y']);
    expect(disagreement(rows)).toEqual({ differ: 2, cells: 8 });
  });

  it('marks nothing on a logit lens (no logit top-1 to compare with)', () => {
    const plain = { ...lens, kind: 'logit' as const, no_transport: [], logit_token_ids: null, logit_tokens: null };
    expect(disagreement(jacobianRows(plain))).toEqual({ differ: 0, cells: 8 });
  });
});
