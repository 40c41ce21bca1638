"""The edge attribution card in a real browser, on a tiny model: edges scored for the session's
pair against the tool called from a cell, drawn on the graph above the slider's threshold, and
the circuit they make run, its metric against the circuit tool called from a cell."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page

from tests.browser.canvas_helpers import (
    cell_json,
    listed_edges_match,
    open_canvas,
    run_new_cell,
    run_starter,
    wait_until,
)
from tests.browser.conftest import Lab, screenshot

pytestmark = [pytest.mark.browser]


def test_score_edges_draw_the_circuit_and_run_it(tiny_lab: Lab, page: Page) -> None:
    run_starter(tiny_lab, page, timeout=120_000)
    run_new_cell(page, 'session.pairs = [("hello world", "hello wurld")]')
    tiny_lab.wait_for_idle_kernel()
    open_canvas(page)
    card = page.locator(".jp-Transpector-edges-card")
    card.get_by_role("button", name="Score edges").click()
    expected = listed_edges_match(page, card, "session.tools.edge_attribution(max_edges=500)")

    card.get_by_label("draw on the graph the edges").check()
    page.locator(".react-flow__controls-fitview").click()
    drawn = page.locator(".jp-Transpector-circuit-edge")
    drawn.first.wait_for(timeout=10_000)
    slider = card.get_by_label("Edge threshold")
    for _ in range(5):  # lower the threshold: more edges
        slider.press("ArrowLeft")
    threshold = float(card.locator("[data-threshold]").get_attribute("data-threshold") or "nan")
    above = [e for e in expected if abs(e[2]) >= threshold]
    wait_until(lambda: drawn.count() == len(above), 10, "circuit edges on the graph")
    negative = page.locator(".jp-Transpector-circuit-edge.jp-Transpector-negative-edge")
    assert negative.count() == len([e for e in above if e[2] < 0])
    screenshot(page.locator(".jp-Transpector-graph"), "canvas-circuit-edges")

    card.get_by_role("button", name=f"Keep only these {len(above)} edges").click()
    ran = card.locator(".jp-Transpector-circuit")
    ran.wait_for(timeout=30_000)
    keep = [[e[0], e[1]] for e in above]
    want = cell_json(
        page,
        f"c = session.tools.circuit(keep={keep!r})\nprint(json.dumps([c.value, c.kept]))",
    )
    assert float(ran.get_attribute("data-value") or "nan") == pytest.approx(want[0], abs=1e-6)
    assert int(ran.get_attribute("data-kept") or "-1") == want[1] == len(above)
    card.scroll_into_view_if_needed()
    screenshot(card, "canvas-edge-attribution")
