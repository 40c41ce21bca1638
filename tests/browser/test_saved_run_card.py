"""The Saved run card in a real browser, on the tiny Llama: empty until a cell traces the prompt
with tr.save_for_canvas() and calls session.show_saved; then its top-k, lens cells and one
head's attention equal what the cell computes from the saved values in plain torch."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from playwright.sync_api import Page

from tests.browser.canvas_helpers import open_canvas, run_new_cell, run_starter
from tests.browser.conftest import Lab, screenshot

pytestmark = [pytest.mark.browser]
IMAGES = Path(__file__).resolve().parents[2] / "docs" / "images"
TRACE = """import json, torch
with session.trace(session.prompt) as tr:
    saved = tr.save_for_canvas()
run = session.show_saved(saved, name="local trace")
top = saved["logits"][0, -1].softmax(-1).topk(10)
norm, unembed = model.ln_final.original_component, model.unembed.original_component
rows = [saved[f"blocks.{l}.hook_resid_pre"][0] for l in range(2)]
lens = [unembed(norm(r)).softmax(-1).max(-1) for r in rows + [saved["blocks.1.hook_resid_post"][0]]]
pattern = saved["blocks.1.attn.hook_pattern"][0, 1]
print(json.dumps([run.id, top.indices.tolist(), top.values.tolist(),
                  [r.indices.tolist() for r in lens], [r.values.tolist() for r in lens],
                  float(pattern.max()), int((pattern > 0.005).sum())]))"""


def test_saved_run_card(tiny_lab: Lab, page: Page) -> None:
    run_starter(tiny_lab, page, timeout=120_000)
    open_canvas(page)
    card = page.locator(".jp-Transpector-saved")
    card.scroll_into_view_if_needed()
    card.filter(has_text="No saved run: session.show_saved(saved) after a trace").wait_for()
    output = run_new_cell(page, TRACE, paste=True)
    printed = output.and_(page.locator("[data-mime-type='application/vnd.jupyter.stdout']"))
    printed.wait_for(timeout=60_000)
    run_id, top_ids, top_probs, lens_ids, lens_probs, most, drawn = json.loads(printed.inner_text())
    shown = page.locator(f".jp-Transpector-saved[data-saved-id='{run_id}']")
    shown.wait_for(timeout=30_000)
    assert "local trace · saved values, not the live model" in shown.locator("h3").inner_text()
    items = shown.locator(".jp-Transpector-saved-topk-item")
    got = items.evaluate_all("els => els.map(e => [Number(e.dataset.id), Number(e.dataset.prob)])")
    assert [g[0] for g in got] == top_ids
    assert [g[1] for g in got] == pytest.approx(top_probs, abs=1e-5)
    cells = shown.locator(".jp-Transpector-saved-cell")
    n_tokens = shown.locator(".jp-Transpector-saved-token").count()
    assert cells.count() == 3 * n_tokens  # L0.resid_pre, L1.resid_pre, L1.resid_post
    got = cells.evaluate_all("els => els.map(e => [Number(e.dataset.id), Number(e.dataset.prob)])")
    assert [g[0] for g in got] == [i for row in lens_ids for i in row]
    assert [g[1] for g in got] == pytest.approx([p for row in lens_probs for p in row], abs=1e-5)
    shown.get_by_label("Saved attention layer").select_option("1")
    shown.get_by_label("Saved attention head").select_option("1")
    heatmap = shown.locator("[data-layer='1'][data-head='1'] svg")
    heatmap.wait_for(timeout=30_000)
    scale = heatmap.locator(".jp-Transpector-heatmap-scale").get_attribute("data-max")
    assert float(scale or "nan") == pytest.approx(most, abs=1e-4)
    assert heatmap.locator(".jp-Transpector-heatmap-cells rect").count() == drawn
    page.set_viewport_size({"width": 1440, "height": 1600})  # the whole card, for the picture
    shown.scroll_into_view_if_needed()
    path = screenshot(shown, "canvas-saved-run")
    shutil.copy(path, IMAGES / "canvas-saved-run.png")
