/**
 * React.memo for cards that read only some parts of the snapshot: a card skips the renders
 * caused by the rest (a state change does not redraw the lens grid, node data does not redraw
 * the loss chart). Other props (the store, callbacks into it) keep their behaviour.
 */
import * as React from 'react';

import type { CanvasSnapshot } from '../store';

export function memoCard<P extends { snap: CanvasSnapshot }>(
  card: (props: P) => React.ReactElement | null,
  ...reads: (keyof CanvasSnapshot)[]
): React.MemoExoticComponent<(props: P) => React.ReactElement | null> {
  return React.memo(card, (before, after) => reads.every(key => before.snap[key] === after.snap[key]));
}
