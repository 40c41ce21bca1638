import { describe, expect, it } from 'vitest';

import { centredViewport, scrollToShow, visiblePart } from './viewport';

describe('scrollToShow', () => {
  const view = { x: 0, y: 60, width: 340, height: 510 };

  it('scrolls down just enough to show a pane that runs below the view', () => {
    // The pane is at 420..760 on screen, the view ends at 570: 190 pixels more.
    expect(scrollToShow({ x: 0, y: 420, width: 320, height: 340 }, view, 0)).toBe(190);
  });

  it('scrolls up to a pane above the view, and leaves a pane in sight alone', () => {
    expect(scrollToShow({ x: 0, y: 10, width: 320, height: 340 }, view, 300)).toBe(250);
    expect(scrollToShow({ x: 0, y: 100, width: 320, height: 340 }, view, 40)).toBe(40);
  });

  it('shows a pane taller than the view from its top', () => {
    expect(scrollToShow({ x: 0, y: 400, width: 320, height: 900 }, view, 10)).toBe(350);
  });
});

describe('visiblePart', () => {
  const pane = { x: 650, y: 440, width: 320, height: 340 };

  it('is the pane less what the panel and the window cut off, in pane pixels', () => {
    const panel = { x: 640, y: 60, width: 340, height: 510 };
    const window = { x: 0, y: 0, width: 1024, height: 600 };
    expect(visiblePart(pane, [panel, window])).toEqual({ x: 0, y: 0, width: 320, height: 130 });
    expect(visiblePart(pane, [])).toEqual({ x: 0, y: 0, width: 320, height: 340 });
  });

  it('is empty when the pane is scrolled out of sight', () => {
    expect(visiblePart(pane, [{ x: 0, y: 0, width: 1024, height: 300 }]).height).toBe(0);
  });
});

describe('centredViewport', () => {
  const pane = { x: 650, y: 440, width: 320, height: 340 };

  it('puts the graph point at the centre of the part that shows', () => {
    const view = centredViewport({ x: 1000, y: -200 }, { x: 0, y: 0, width: 320, height: 130 }, pane, 1);
    // Graph point -> pane pixel: x + gx * zoom, y + gy * zoom.
    expect(view.x + 1000 * view.zoom).toBe(160);
    expect(view.y - 200 * view.zoom).toBe(65);
  });

  it('centres in the whole pane when no part of it shows', () => {
    const view = centredViewport({ x: 10, y: 20 }, { x: 0, y: 0, width: 320, height: 0 }, pane, 2);
    expect([view.x + 10 * 2, view.y + 20 * 2]).toEqual([160, 170]);
  });
});
