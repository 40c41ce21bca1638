/**
 * Pure reads of attention patterns ([query, key] row-major, or [head, query, key]): the tint of
 * each token when one is hovered, and the cells of the all-heads overlay. No DOM.
 */
import type { AttentionDirection } from './model';

/** The attention weight each token gets when `position` is hovered: along the row (the hovered
 * token as query) or down the column (as key). Empty when the pattern does not fit. */
export function attentionTint(pattern: Float32Array, size: number, position: number, direction: AttentionDirection): number[] {
  if (position < 0 || position >= size || pattern.length < size * size) {
    return [];
  }
  return Array.from({ length: size }, (_, other) =>
    direction === 'query' ? pattern[position * size + other] : pattern[other * size + position]
  );
}

export interface OverlayCell {
  query: number;
  key: number;
  /** The head that attends most from this query to this key. */
  top: number;
  /** Its weight there: the cell's opacity. */
  weight: number;
  /** Its weight over the sum of all heads' weights there (1: no other head looks here). */
  share: number;
}

/**
 * All heads of a layer in one picture: each cell takes the colour of the head that attends most
 * there, as opaque as that head's weight. (Mixing the heads' colours instead turns every cell
 * the heads share to grey.) Cells every head leaves below `floor` are dropped. `values` is
 * [heads, rows, cols].
 */
export function overlayCells(values: Float32Array, heads: number, rows: number, cols: number, floor = 0.005): OverlayCell[] {
  const cells: OverlayCell[] = [];
  const size = rows * cols;
  for (let q = 0; q < rows; q++) {
    for (let k = 0; k < cols; k++) {
      let total = 0;
      let weight = 0;
      let top = 0;
      for (let h = 0; h < heads; h++) {
        const w = values[h * size + q * cols + k];
        if (w > 0) {
          total += w;
          if (w > weight) {
            weight = w;
            top = h;
          }
        }
      }
      if (weight >= floor) {
        cells.push({ query: q, key: k, top, weight: Math.min(1, weight), share: weight / total });
      }
    }
  }
  return cells;
}
