/**
 * The Jacobian lens's grid, as data: every lens row in the logit lens's order, each either read
 * through a transport matrix (or the identity, for the model's output) or left out because it
 * has none (the embeddings), and the cells whose top-1 differs from the logit lens's.
 */
import type { LogitLens } from '../protocol.generated';

export interface JacobianCell {
  position: number;
  token: string;
  tokenId: number;
  prob: number;
  /** The logit lens's top-1 here (same run), when the two lenses disagree; else null. */
  logitToken: string | null;
}

export type JacobianRow = { row: string; cells: JacobianCell[] } | { row: string; cells: null };

/** Rows in lens order: `L0.resid_pre` … then the last `resid_post`; a row with no transport
 * matrix has `cells: null`. */
export function jacobianRows(lens: LogitLens): JacobianRow[] {
  const read = new Map(lens.layers.map((row, r) => [row, r]));
  const order = [...(lens.no_transport ?? []), ...lens.layers].sort((a, b) => rowOrder(a) - rowOrder(b));
  return order.map(row => {
    const r = read.get(row);
    if (r === undefined) {
      return { row, cells: null };
    }
    const cells = lens.positions.map((position, i) => {
      const logitId = lens.logit_token_ids?.[r]?.[i];
      const differs = logitId !== undefined && logitId !== lens.token_ids[r][i];
      return {
        position,
        token: lens.tokens[r][i],
        tokenId: lens.token_ids[r][i],
        prob: lens.probs[r][i],
        logitToken: differs ? (lens.logit_tokens?.[r]?.[i] ?? '') : null
      };
    });
    return { row, cells };
  });
}

/** How many cells the two lenses disagree on, of how many read. */
export function disagreement(rows: JacobianRow[]): { differ: number; cells: number } {
  let differ = 0;
  let cells = 0;
  for (const row of rows) {
    for (const cell of row.cells ?? []) {
      cells += 1;
      differ += cell.logitToken === null ? 0 : 1;
    }
  }
  return { differ, cells };
}

/** `L{l}.resid_pre` before `L{l}.resid_post` before `L{l+1}.resid_pre`. */
function rowOrder(row: string): number {
  const match = /^L(\d+)\.resid_(pre|post)$/.exec(row);
  return match ? Number(match[1]) * 2 + (match[2] === 'post' ? 1 : 0) : Number.MAX_SAFE_INTEGER;
}
