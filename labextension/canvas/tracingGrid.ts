/**
 * Pure reading of a causal trace for its heatmaps: one grid per kind (residual, MLP, attention),
 * layers down and positions across, each cell the answer's probability with the state restored
 * there, coloured by how much of the way from the noised run to the clean one it gets.
 */
import type { Trace, TracingResult } from '../protocol.generated';
import { ellipsize, quoteToken, showToken } from './format';
import type { SweepGrid } from './patchingGrid';

export const TRACE_TITLES: Record<Trace['kind'], string> = {
  resid_pre: 'residual stream',
  mlp_out: 'MLP (a window of layers)',
  attn_out: 'attention (a window of layers)'
};

export function traceGrid(result: TracingResult, trace: Trace): SweepGrid {
  const span = result.clean_prob - result.corrupted_prob;
  const subject = new Set(result.subject_positions);
  const cols = result.positions.map(p => {
    const token = result.tokens[p] ?? '';
    const mark = subject.has(p) ? '*' : '';
    return { text: `${mark}${ellipsize(showToken(token), 6)}`, full: `position ${p}: ${quoteToken(token)}${mark ? ' (noised subject)' : ''}` };
  });
  const prob = (r: number, c: number): number => trace.probs[r]?.[c] ?? Number.NaN;
  return {
    rows: result.layers,
    cols,
    colAxis: 'position',
    value: (r, c) => (Math.abs(span) > 1e-12 ? (prob(r, c) - result.corrupted_prob) / span : null),
    raw: prob,
    cell: (r, c) => ({ layer: result.layers[r], head: null, position: result.positions[c] })
  };
}
