/**
 * Pure layout of a heatmap's axes: token labels (ellipsized, the whole token kept for a
 * tooltip), room for the "query" and "key" titles and the colour scale, and the scale's top end.
 */
import { ellipsize, quoteToken, showToken } from './format';

/** The longest label shown; a longer token ends in an ellipsis. */
export const LABEL_CHARS = 12;
/** Width of one label character (the code font at 9px). */
export const CHAR_WIDTH = 5.5;
/** Room for an axis title, left of and above the labels. */
export const TITLE_BAND = 14;
/** Room under the cells for the colour scale. */
export const SCALE_BAND = 30;
export const SCALE_WIDTH = 80;
/** Column labels are rotated this far (degrees) counter-clockwise. */
export const KEY_ANGLE = 60;
const GAP = 6;

export interface AxisLabel {
  text: string;
  /** For the tooltip: the position and the whole token. */
  full: string;
}

export interface HeatmapLayout {
  /** Left of the cells. */
  left: number;
  /** Above the cells. */
  top: number;
  width: number;
  height: number;
}

export function axisLabels(tokens: string[], n: number): AxisLabel[] {
  return Array.from({ length: n }, (_, i) => {
    const token = tokens[i];
    return token === undefined
      ? { text: String(i), full: `position ${i}` }
      : { text: ellipsize(showToken(token), LABEL_CHARS), full: `position ${i}: ${quoteToken(token)}` };
  });
}

const widest = (labels: AxisLabel[]): number => Math.max(0, ...labels.map(l => Array.from(l.text).length)) * CHAR_WIDTH;

/** Row labels on the left, column labels above (rotated), the scale below; `null` labels: the
 * cells alone (small multiples). */
export function heatmapLayout(
  rows: number,
  cols: number,
  cell: number,
  rowLabels: AxisLabel[] | null,
  colLabels: AxisLabel[] | null
): HeatmapLayout {
  if (rowLabels === null || colLabels === null) {
    return { left: 0, top: 0, width: cols * cell, height: rows * cell };
  }
  const angle = (KEY_ANGLE * Math.PI) / 180;
  const keyWidth = widest(colLabels);
  const left = TITLE_BAND + widest(rowLabels) + GAP;
  const top = TITLE_BAND + keyWidth * Math.sin(angle) + GAP;
  const overhang = Math.max(0, keyWidth * Math.cos(angle) - 0.3 * cell) + 2;
  return {
    left,
    top,
    width: Math.ceil(Math.max(left + cols * cell + overhang, left + SCALE_WIDTH + 2)),
    height: Math.ceil(top + rows * cell + SCALE_BAND)
  };
}

/** The largest weight of the `size` values from `offset` (0 when there is none). */
export function blockMax(values: Float32Array, offset: number, size: number): number {
  let max = 0;
  for (let i = offset; i < offset + size; i++) {
    if (values[i] > max) {
      max = values[i];
    }
  }
  return max;
}
