"""What a new user reads first, in a real browser on the tiny model: the toolbar button's tooltip,
the side panel's entry (notebook and model by name), a head heatmap's axes and colour scale."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Page

from tests.browser.canvas_helpers import (
    CANVAS,
    cell_json,
    open_canvas,
    rendered_head,
    run_starter,
    tokens,
)
from tests.browser.conftest import Lab, palette, screenshot

pytestmark = [pytest.mark.browser]

BUTTON = ".jp-NotebookPanel-toolbar [data-jp-item-name='transpector'] jp-button"


def test_toolbar_button_panel_entry_and_heatmap_axes(tiny_lab: Lab, page: Page) -> None:
    run_starter(tiny_lab, page, timeout=120_000)
    kernel_id = tiny_lab.wait_for_idle_kernel()

    # The notebook toolbar's button says what it does when hovered.
    button = page.locator(BUTTON)
    assert button.get_attribute("title") == "Open the Transpector canvas of this kernel"
    button.hover()
    page.wait_for_timeout(300)
    screenshot(page.locator(".jp-NotebookPanel-toolbar"), "polish-toolbar-button")

    # The side panel names the notebook and the model, not just the kernel spec and id.
    model_name = cell_json(page, "print(json.dumps(session.graph.model_name))")
    palette(page, "Transpector: Open Panel")
    row = page.locator(f".jp-TranspectorPanel-kernel[data-kernel-id='{kernel_id}']")
    model = row.locator(".jp-TranspectorPanel-model")
    model.wait_for(timeout=10_000)
    # `transpector lab --model DIR` names the model by its path: the entry shows the folder.
    assert model.get_attribute("title") == f"Model: {model_name}"
    assert model.inner_text() == Path(model_name).name
    assert row.locator(".jp-TranspectorPanel-name").inner_text() == "transpector-start.ipynb"
    assert kernel_id in (row.locator("button").get_attribute("title") or "")
    screenshot(page.locator("#transpector-panel"), "polish-panel-entry")

    # A head's heatmap: labels with the whole token in a tooltip, "query" and "key" axis titles,
    # and a scale from 0 to the pattern's largest weight.
    open_canvas(page)
    rendered_head(page, 0, 1).locator(".jp-Transpector-node-label").click()
    heatmap = page.locator(f"{CANVAS} .jp-Transpector-detail .jp-Transpector-heatmap").first
    heatmap.locator(".jp-Transpector-heatmap-cells rect").first.wait_for(timeout=10_000)
    assert heatmap.locator("[data-axis='query']").text_content() == "query"
    assert heatmap.locator("[data-axis='key']").text_content() == "key"
    first = tokens(page)[0]
    assert first == "<|endoftext|>"
    row_label = heatmap.locator(".jp-Transpector-heatmap-label[data-axis-of='query']").first
    assert row_label.locator("title").text_content() == f'position 0: "{first}"'
    shown = row_label.evaluate(
        "e => [...e.childNodes].filter(n => n.nodeName !== 'title')"
        ".map(n => n.textContent).join('')"
    )
    assert shown.endswith("\u2026") and first.startswith(shown[:-1]) and len(shown) >= 8
    scale = heatmap.locator(".jp-Transpector-heatmap-scale")
    weights = [
        float(m.group(1))
        for title in heatmap.locator(".jp-Transpector-heatmap-cells rect title").all_text_contents()
        if (m := re.search(r": (\d+(?:\.\d+)?)%$", title))
    ]
    assert scale.locator("[data-end='min']").text_content() == "0"
    assert scale.locator("[data-end='max']").text_content() == f"{max(weights):g}%"
    heatmap.scroll_into_view_if_needed()
    screenshot(heatmap, "polish-heatmap-light")
    palette(page, "Use Theme: JupyterLab Dark")
    page.locator("body[data-jp-theme-light='false']").wait_for(state="attached", timeout=20_000)
    page.wait_for_timeout(500)
    screenshot(heatmap, "polish-heatmap-dark")
    screenshot(page.locator("#transpector-panel"), "polish-panel-dark")
    palette(page, "Use Theme: JupyterLab Light")
    page.locator("body[data-jp-theme-light='true']").wait_for(state="attached", timeout=20_000)
