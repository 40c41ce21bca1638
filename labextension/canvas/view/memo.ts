/**
 * Render economy for the cards. `memoCard`: React.memo for cards that read only some parts of
 * the snapshot, so a card skips the renders caused by the rest (a state change does not redraw
 * the lens grid, node data does not redraw the loss chart). `useAfterPaint`: a value that
 * follows its source one painted frame later, for a large card that should not hold back the
 * frame that shows a run's outputs.
 */
import * as React from 'react';

import type { CanvasSnapshot } from '../store';

export function memoCard<P extends { snap: CanvasSnapshot }>(
  card: (props: P) => React.ReactElement | null,
  ...reads: (keyof CanvasSnapshot)[]
): React.MemoExoticComponent<(props: P) => React.ReactElement | null> {
  return React.memo(card, (before, after) => reads.every(key => before.snap[key] === after.snap[key]));
}

/** `value`, except that a change shows only after the browser has painted the frame it came
 * in (the first value shows at once). */
export function useAfterPaint<T>(value: T): T {
  const [shown, setShown] = React.useState(value);
  React.useEffect(() => {
    if (Object.is(shown, value)) {
      return;
    }
    let timer: ReturnType<typeof setTimeout> | undefined;
    const frame = requestAnimationFrame(() => {
      timer = setTimeout(() => setShown(() => value));
    });
    return () => {
      cancelAnimationFrame(frame);
      clearTimeout(timer);
    };
  }, [value, shown]);
  return shown;
}
