/**
 * Where the graph pane looks, pure: how far its scrolling panel must scroll to show the whole
 * pane, which part of the pane shows, and the viewport that puts a graph point at the centre of
 * that part. No DOM: GraphPane reads the rectangles and applies the answers.
 */

/** A rectangle in screen pixels (as getBoundingClientRect gives it). */
export interface Rect {
  x: number;
  y: number;
  width: number;
  height: number;
}

/** xyflow's viewport: graph point (gx, gy) shows at pane pixel (x + gx * zoom, y + gy * zoom). */
export interface PaneViewport {
  x: number;
  y: number;
  zoom: number;
}

/**
 * The scrollTop that shows all of `pane` inside the scrolling `view` (whose scrollTop is now
 * `scrollTop`), moving as little as it can; a pane taller than the view shows from its top.
 */
export function scrollToShow(pane: Rect, view: Rect, scrollTop: number): number {
  const above = view.y - pane.y;
  const below = pane.y + pane.height - (view.y + view.height);
  if (above > 0 || pane.height > view.height) {
    return Math.max(0, scrollTop - above);
  }
  return below > 0 ? scrollTop + below : scrollTop;
}

/** The part of `pane` that `clips` (the scrolling panels around it, the window) let show, in
 * pane pixels; the whole pane when nothing clips it, an empty rectangle when it is hidden. */
export function visiblePart(pane: Rect, clips: readonly Rect[]): Rect {
  let [left, top, right, bottom] = [pane.x, pane.y, pane.x + pane.width, pane.y + pane.height];
  for (const c of clips) {
    [left, top] = [Math.max(left, c.x), Math.max(top, c.y)];
    [right, bottom] = [Math.min(right, c.x + c.width), Math.min(bottom, c.y + c.height)];
  }
  return { x: left - pane.x, y: top - pane.y, width: Math.max(0, right - left), height: Math.max(0, bottom - top) };
}

/** The viewport at `zoom` that shows graph point `at` at the centre of `part` (pane pixels; the
 * whole pane when `part` is empty). */
export function centredViewport(at: { x: number; y: number }, part: Rect, pane: Rect, zoom: number): PaneViewport {
  const shown = part.width > 0 && part.height > 0 ? part : { x: 0, y: 0, width: pane.width, height: pane.height };
  return {
    x: shown.x + shown.width / 2 - at.x * zoom,
    y: shown.y + shown.height / 2 - at.y * zoom,
    zoom
  };
}
