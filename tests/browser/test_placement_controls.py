"""The model's device and dtype on the canvas, on a tiny model in a real browser: the status bar
shows "cpu · float32"; choosing bfloat16 there casts the model (a cell sees model.cfg.dtype and
the parameters' dtype change) and the display follows; back to float32 the same way; only the
devices the kernel reports are offered (no CUDA here), and a missing device asked for from a cell
is one clear error with the display unchanged."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page

from tests.browser.canvas_helpers import cell_json, open_canvas, run_new_cell, run_starter
from tests.browser.conftest import Lab, screenshot

pytestmark = [pytest.mark.browser]
DTYPES = (
    "print(json.dumps([str(model.cfg.dtype), sorted({str(p.dtype) for p in model.parameters()})]))"
)


def test_device_and_dtype_on_the_canvas(tiny_lab: Lab, page: Page) -> None:
    run_starter(tiny_lab, page, timeout=120_000)
    open_canvas(page)
    label = page.locator(".jp-Transpector-placement-label")
    label.filter(has_text="cpu · float32").wait_for(timeout=20_000)
    device = page.get_by_label("Device", exact=True)
    assert device.locator("option").all_inner_texts() == ["cpu"]  # a missing device is not offered
    version = int(page.locator(".jp-Transpector-canvas").get_attribute("data-version") or "0")

    page.get_by_label("Dtype", exact=True).select_option("bfloat16")
    label.filter(has_text="cpu · bfloat16").wait_for(timeout=30_000)
    page.locator(f".jp-Transpector-canvas[data-run-version='{version + 1}']").wait_for(
        timeout=30_000
    )  # the canvas ran the cast model
    assert cell_json(page, DTYPES) == ["torch.bfloat16", ["torch.bfloat16"]]
    screenshot(page, "canvas-placement-bfloat16")

    page.get_by_label("Dtype", exact=True).select_option("float32")
    label.filter(has_text="cpu · float32").wait_for(timeout=30_000)
    assert cell_json(page, DTYPES) == ["torch.float32", ["torch.float32"]]

    output = run_new_cell(page, 'session.move(device="cuda:7")')
    output.filter(has_text="there is no device 'cuda:7' here").wait_for(timeout=20_000)
    assert label.inner_text() == "cpu · float32"
