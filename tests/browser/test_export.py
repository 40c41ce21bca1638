"""The exported view in a real browser: downloaded with the canvas's Export button, opened from
disk in a browser that is offline and records every request, it draws the same numbers as the
live canvas (next-token probabilities, logit-lens cells, the version), the interventions and the
notes, read-only; its layers fold and its graph pans."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page

from tests.browser.canvas_helpers import (
    CANVAS,
    lens_caught_up,
    open_canvas,
    run_new_cell,
    run_starter,
    wait_until,
)
from tests.browser.conftest import Lab, screenshot

pytestmark = [pytest.mark.browser]


def test_export_opens_offline_with_the_canvas_s_numbers(
    tiny_lab: Lab, page: Page, browser: Any, tmp_path: Path
) -> None:
    run_starter(tiny_lab, page, timeout=120_000)
    canvas = open_canvas(page)
    run_new_cell(page, 'session.ablate("L1.mlp")\nsession.note("L0.H1", "**copy** head?")')
    page.locator(".jp-Transpector-intervention[data-node-id='L1.mlp']").wait_for(timeout=10_000)
    page.locator(".jp-Transpector-node[data-node-id='L0.H1'] .jp-Transpector-note-mark").wait_for(
        timeout=10_000
    )
    wait_until(
        lambda: canvas.get_attribute("data-run-version") == canvas.get_attribute("data-version"),
        20,
        "the run of the latest state",
    )
    lens_caught_up(page)
    version = canvas.get_attribute("data-version")
    top_k = page.locator(".jp-Transpector-topk-item").evaluate_all(
        "els => els.map(e => [e.dataset.token, Number(e.dataset.prob)])"
    )
    lens = page.locator(".jp-Transpector-lens [data-layer][data-position][data-prob]").evaluate_all(
        "els => els.map(e => [e.dataset.layer, Number(e.dataset.position), Number(e.dataset.prob)])"
    )
    assert len(top_k) >= 5 and len(lens) >= 6

    with page.expect_download() as download:
        page.locator(f"{CANVAS} .jp-Transpector-status").get_by_role(
            "button", name="Export"
        ).click()
    assert download.value.suggested_filename.endswith(f"-v{version}.html")
    path = tmp_path / "view.html"
    download.value.save_as(path)

    offline = browser.new_context(offline=True, viewport={"width": 900, "height": 700})
    view = offline.new_page()
    requests: list[str] = []
    view.on("request", lambda r: requests.append(r.url))
    errors: list[str] = []
    view.on("pageerror", lambda e: errors.append(str(e)))
    view.goto(path.as_uri())
    view.locator("body[data-drawn]").wait_for(timeout=10_000)
    assert requests == [path.as_uri()] and errors == []

    assert f"state version {version}" in view.locator("header").inner_text()
    shown = view.locator(".topk-item").evaluate_all(
        "els => els.map(e => [e.dataset.token, Number(e.dataset.prob)])"
    )
    assert [t for t, _ in shown[: len(top_k)]] == [t for t, _ in top_k]
    assert [p for _, p in shown[: len(top_k)]] == pytest.approx([p for _, p in top_k], abs=1e-7)
    for layer, position, prob in lens:
        cell = view.locator(f"tr[data-row='{layer}'] td[data-position='{position}']")
        assert float(cell.get_attribute("data-prob") or "nan") == pytest.approx(prob, abs=1e-7)
    assert view.locator(".interventions li").all_inner_texts() == ["zero-ablate L1.mlp"]
    assert view.locator(".node[data-node-id='L1.mlp'][data-intervened]").count() == 1
    assert view.locator(".notes li[data-target='L0.H1']").inner_text().endswith("**copy** head?")
    assert view.locator("input, textarea, button").count() == 0  # read-only

    # Hover: a node's title tells its note; fold: a layer closes; pan: a drag scrolls the graph.
    head = view.locator(".node[data-node-id='L0.H1']")
    assert "note: **copy** head?" in (head.get_attribute("title") or "")
    screenshot(view, "export-view")
    layer = view.locator("details.layer[data-layer='1']")
    layer.locator("summary").click()
    assert layer.evaluate("d => d.open") is False
    view.set_viewport_size({"width": 420, "height": 600})  # the layers are wider than the pane
    pane = view.locator("section.graph .pane")
    pane.scroll_into_view_if_needed()
    box = pane.bounding_box()
    assert box is not None
    before = pane.evaluate("p => [p.scrollLeft, p.scrollTop]")
    view.mouse.move(box["x"] + box["width"] - 20, box["y"] + box["height"] - 20)
    view.mouse.down()
    view.mouse.move(box["x"] + 20, box["y"] + 20, steps=8)
    view.mouse.up()
    assert pane.evaluate("p => [p.scrollLeft, p.scrollTop]") != before
    offline.close()
