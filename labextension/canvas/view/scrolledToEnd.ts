/**
 * A scrolling box that opens at its right end whenever `key` changes: a lens grid's last
 * position, where the prediction is.
 */
import * as React from 'react';

export function useScrolledToEnd(key: unknown): React.RefObject<HTMLDivElement> {
  const scroller = React.useRef<HTMLDivElement>(null);
  React.useLayoutEffect(() => {
    const box = scroller.current;
    if (box) {
      box.scrollLeft = box.scrollWidth;
    }
  }, [key]);
  return scroller;
}
