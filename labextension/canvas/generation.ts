/** What the Generation card reads from the kernel's progress labels (DOM-free). */

export type Column = 'clean' | 'steered';

/** The column and the text so far that a progress label of the `generation` tool streams
 * ("steered: text so far"), or null for another label. */
export function streamed(label: string): [Column, string] | null {
  const match = /^(clean|steered): ([\s\S]*)$/.exec(label);
  return match ? [match[1] as Column, match[2]] : null;
}
