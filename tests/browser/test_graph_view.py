"""The graph pane in a real browser on a 32-layer x 32-head model (1024 head nodes): zoomed far
out the layers draw as summary boxes, so the DOM stays small at every zoom; the minimap follows
JupyterLab's dark theme; Find centres the node it finds."""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Page

from tests.browser.canvas_helpers import open_canvas, run_new_cell, run_starter
from tests.browser.conftest import Lab, palette, screenshot, start_lab
from tests.tiny_models import tiny_llama_dir

pytestmark = [pytest.mark.browser]

# labextension/canvas/layerSummary.ts NODE_BUDGET: the most nodes a view may hold.
NODE_BUDGET = 300


@pytest.fixture(scope="module")
def big_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    model = tiny_llama_dir(tmp_path_factory.mktemp("model-32x32"), n_layers=32, n_heads=32)
    folder = tmp_path_factory.mktemp("big-notebooks")
    home = tmp_path_factory.mktemp("big-home")
    yield from start_lab(["--model", str(model), "--notebook-dir", str(folder)], home)


def open_big_canvas(lab: Lab, page: Page) -> None:
    run_starter(lab, page, timeout=120_000)
    open_canvas(page)
    assert "32 layers · 32 heads" in page.locator(".jp-Transpector-status").inner_text()
    page.wait_for_timeout(1000)  # the opening view settles on layer 0


def nodes_in_dom(page: Page) -> int:
    return int(page.evaluate("() => document.querySelectorAll('.react-flow__node').length"))


def zoom(page: Page) -> float:
    transform = page.evaluate(
        "() => document.querySelector('.react-flow__viewport').style.transform"
    )
    return float(re.search(r"scale\(([\d.]+)\)", transform).group(1))  # type: ignore[union-attr]


def luminance(css_color: str) -> float:
    r, g, b = (int(v) for v in re.findall(r"\d+", css_color)[:3])
    return (0.2126 * r + 0.7152 * g + 0.0722 * b) / 255


def centre(box: Any) -> tuple[float, float]:
    assert box is not None
    return box["x"] + box["width"] / 2, box["y"] + box["height"] / 2


def test_far_zoom_draws_layers_as_summaries_and_the_dom_stays_small(
    big_lab: Lab, page: Page
) -> None:
    open_big_canvas(big_lab, page)
    # Two heads of layer 12 ablated and a patch into layer 13 (fit view shows the middle
    # layers: the smallest zoom is too close for all 32).
    output = run_new_cell(
        page,
        'session.ablate("L12.H3"); session.ablate("L12.H7"); '
        'session.patch("L0.H0", "L13.H0", "Hi", positions=[1]); print("marked")',
    )
    output.filter(has_text="marked").wait_for(timeout=30_000)

    # Fit view: as much of the model as the smallest zoom shows, as one box per layer.
    page.locator(".react-flow__controls-fitview").click()
    page.wait_for_timeout(1500)
    fitted = nodes_in_dom(page)
    assert fitted <= 60, f"{fitted} nodes in the DOM at fit view"
    summaries = page.locator(".jp-Transpector-summary")
    assert summaries.count() >= 16
    assert page.locator(".jp-Transpector-node[data-kind='head']").count() == 0
    # The boxes keep the interventions in sight: two heads replaced in layer 12, one patch
    # into layer 13, nothing on layer 14.
    layer12 = page.locator(".jp-Transpector-summary[data-layer='12']")
    assert layer12.get_attribute("data-replaced") == "2"
    assert "⊘2" in layer12.inner_text()
    layer13 = page.locator(".jp-Transpector-summary[data-layer='13']")
    assert layer13.get_attribute("data-patched") == "1"
    assert "⇢1" in layer13.inner_text()
    assert (
        page.locator(".jp-Transpector-summary[data-layer='14']").get_attribute("data-marks") == ""
    )
    screenshot(page, "graph-32x32-fit-view")
    screenshot(page.locator(".jp-Transpector-graph"), "graph-32x32-fit-view-pane")

    # Zooming in step by step, no view holds more than the budget.
    counts = []
    while zoom(page) < 1:
        page.locator(".react-flow__controls-zoomin").click()
        page.wait_for_timeout(400)
        counts.append((round(zoom(page), 3), nodes_in_dom(page)))
    assert max(n for _, n in counts) <= NODE_BUDGET, counts
    assert page.locator(".jp-Transpector-summary").count() == 0  # near: today's nodes

    # A click on a summary box zooms into its layer.
    page.locator(".react-flow__controls-fitview").click()
    page.wait_for_timeout(1000)
    layer12.click()
    page.locator(".jp-Transpector-node[data-node-id='L12.H3'][data-marks~='ablate']").wait_for(
        timeout=5_000
    )
    assert page.locator(".jp-Transpector-summary").count() == 0
    assert nodes_in_dom(page) <= NODE_BUDGET
    run_new_cell(page, "session.clear()")


MEAN_LUMINANCE = """async png => {
  // The mean luminance (0 black, 1 white) of a PNG's pixels, decoded by the browser.
  const image = new Image();
  image.src = 'data:image/png;base64,' + png;
  await image.decode();
  const canvas = Object.assign(document.createElement('canvas'), { width: image.width,
    height: image.height });
  const context = canvas.getContext('2d');
  context.drawImage(image, 0, 0);
  const d = context.getImageData(0, 0, image.width, image.height).data;
  let sum = 0;
  for (let i = 0; i < d.length; i += 4) {
    sum += 0.2126 * d[i] + 0.7152 * d[i + 1] + 0.0722 * d[i + 2];
  }
  return sum / (d.length / 4) / 255;
}"""


def looks(page: Page, element: Any) -> float:
    """How light `element` looks on screen: the mean luminance of its screenshot."""
    png = base64.b64encode(element.screenshot()).decode()
    return float(page.evaluate(MEAN_LUMINANCE, png))


def test_minimap_follows_the_dark_theme(big_lab: Lab, page: Page) -> None:
    open_big_canvas(big_lab, page)
    minimap, pane = page.locator(".react-flow__minimap"), page.locator(".react-flow")
    assert looks(page, minimap) > 0.8
    palette(page, "Use Theme: JupyterLab Dark")
    page.locator("body[data-jp-theme-light='false']").wait_for(state="attached", timeout=20_000)
    try:
        page.wait_for_timeout(500)
        screenshot(page, "graph-32x32-dark")
        screenshot(page.locator(".jp-Transpector-graph"), "graph-32x32-dark-pane")
        background = luminance(pane.evaluate("e => getComputedStyle(e).backgroundColor"))
        assert background < 0.15
        # The minimap is as dark as the pane around it, not a grey block.
        shown = looks(page, minimap)
        assert abs(shown - background) < 0.1, (shown, background)
        button = page.locator(".react-flow__controls-button").first
        assert luminance(button.evaluate("e => getComputedStyle(e).backgroundColor")) < 0.3
        # Far out, in the dark: summary boxes, and the minimap still as dark as the pane.
        page.locator(".react-flow__controls-fitview").click()
        page.locator(".jp-Transpector-summary").first.wait_for(timeout=5_000)
        page.wait_for_timeout(500)
        screenshot(page.locator(".jp-Transpector-graph"), "graph-32x32-dark-fit-view")
        assert abs(looks(page, minimap) - background) < 0.1
    finally:
        palette(page, "Use Theme: JupyterLab Light")
        page.locator("body[data-jp-theme-light='true']").wait_for(state="attached", timeout=20_000)


VISIBLE_PART = """e => {
  // The part of e that shows: its box clipped by every scrolling ancestor and by the window.
  let r = e.getBoundingClientRect();
  let [top, left, bottom, right] = [r.top, r.left, r.bottom, r.right];
  for (let a = e.parentElement; a; a = a.parentElement) {
    if (!['auto', 'scroll'].includes(getComputedStyle(a).overflowY)) continue;
    const c = a.getBoundingClientRect();
    [top, left] = [Math.max(top, c.top), Math.max(left, c.left)];
    [bottom, right] = [Math.min(bottom, c.bottom), Math.min(right, c.right)];
  }
  [bottom, right] = [Math.min(bottom, innerHeight), Math.min(right, innerWidth)];
  return { x: left, y: top, width: right - left, height: bottom - top };
}"""


@pytest.mark.parametrize(
    ("node", "before"),
    [("L5.H31", "nothing"), ("L20.H0", "Fold all"), ("L9.mlp", "fit view"), ("L3.H10", "Heads")],
)
def test_find_centres_the_node_it_finds(big_lab: Lab, page: Page, node: str, before: str) -> None:
    # A small window: the graph pane starts partly below the canvas panel's visible part.
    page.set_viewport_size({"width": 1024, "height": 600})
    open_big_canvas(big_lab, page)
    if before == "fit view":
        page.locator(".react-flow__controls-fitview").click()
    elif before != "nothing":  # fold every layer, or hide the heads
        page.locator(".jp-Transpector-graph-toolbar").get_by_role(
            "button", name=before, exact=True
        ).click()
    page.wait_for_timeout(500)
    find = page.get_by_label("Find")
    find.fill(node)
    find.press("Enter")
    found = page.locator(f".jp-Transpector-node[data-node-id='{node}']")
    found.wait_for(timeout=5_000)
    page.wait_for_timeout(800)  # the view's move is animated
    assert found.get_attribute("data-selected") == "true"
    screenshot(page, f"graph-find-{node}")  # the window as it is (an element's would scroll)
    flow = page.locator(".react-flow")
    pane, shown = flow.bounding_box(), flow.evaluate(VISIBLE_PART)
    assert pane is not None
    # The whole pane is in sight (it fits the canvas panel), and the node is at its centre.
    assert shown["height"] >= pane["height"] - 1, (shown, pane)
    (pane_x, pane_y), (node_x, node_y) = centre(shown), centre(found.bounding_box())
    assert abs(node_x - pane_x) <= 4 and abs(node_y - pane_y) <= 4, (
        f"{node} at ({node_x:.0f}, {node_y:.0f}), the pane's centre at ({pane_x:.0f}, {pane_y:.0f})"
    )
