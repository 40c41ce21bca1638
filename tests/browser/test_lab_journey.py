"""The first thing a user does: `transpector lab`, run the starter notebook, open the panel."""

from __future__ import annotations

from typing import Any

import pytest

import transpector
from tests.browser.canvas_helpers import run_all_cells
from tests.browser.conftest import Lab, palette, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.default_model]


def test_starter_notebook_runs_and_the_panel_lists_its_kernel(lab: Lab, page: Any) -> None:
    page.goto(lab.url)
    page.locator(".jp-NotebookPanel").wait_for(timeout=60_000)
    kernel_id = lab.wait_for_idle_kernel()
    page.locator(".jp-Toolbar-kernelName", has_text="Python 3").wait_for(timeout=30_000)
    run_all_cells(page)
    paris = page.locator(".jp-OutputArea-output", has_text="' Paris'")
    paris.wait_for(timeout=180_000)
    page.locator(".jp-OutputArea-output", has_text="logit lens, last position").wait_for(
        timeout=60_000
    )
    outputs = page.locator(".jp-OutputArea-output").all_inner_texts()
    assert any("TransformerBridge: 30 layers, 9 heads, d_model 576" in t for t in outputs)
    assert not any("Warning" in text or "Error" in text for text in outputs), outputs
    assert any("L29.mlp ablated: [(" in text for text in outputs)

    assert [k["id"] for k in lab.api("api/kernels")] == [kernel_id]
    palette(page, "Transpector: Open Panel")
    row = page.locator(f".jp-TranspectorPanel-kernel[data-kernel-id='{kernel_id}']")
    row.wait_for(timeout=10_000)
    panel = page.locator("#transpector-panel")
    assert f"Version {transpector.__version__}" in panel.inner_text()
    assert "python3" in row.inner_text()
    page.locator(".jp-OutputArea-output", has_text="logit lens").scroll_into_view_if_needed()
    screenshot(page, "lab-starter-and-panel")
