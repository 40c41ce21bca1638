"""The weight cards in a real browser, on the tiny Llama (rotary, grouped-query): OV copying's
heatmap and a head's top tokens, and the positional profiles measured on random tokens, each
against the tool called from a cell and plain torch in the notebook, a click selecting the head."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page

from tests.browser.canvas_helpers import cell_json, open_canvas, run_starter
from tests.browser.conftest import Lab, screenshot

pytestmark = [pytest.mark.browser]


def selected(page: Page, node: str) -> None:
    page.locator(f".jp-Transpector-node[data-node-id='{node}'][data-selected='true']").wait_for(
        timeout=5_000
    )


def test_ov_copying_card(tiny_lab: Lab, page: Page) -> None:
    run_starter(tiny_lab, page, timeout=120_000)
    open_canvas(page)
    card = page.locator(".jp-Transpector-ovcopying")
    card.scroll_into_view_if_needed()
    card.get_by_label("Token").fill("a")
    card.get_by_role("button", name="Score").click()
    cells = card.locator(".jp-Transpector-sweep-cell")
    cells.first.wait_for(timeout=60_000)
    copying, top = cell_json(
        page,
        "r = session.tools.ov_copying(token='a', k=8)\n"
        "print(json.dumps([r.copying, [[[t.id for t in h] for h in l] for l in r.top]]))",
    )
    assert cells.count() == 8  # 2 layers x 4 heads
    shown = cells.evaluate_all("els => els.map(e => Number(e.dataset.value))")
    assert shown == pytest.approx([v for row in copying for v in row], abs=1e-9)
    # L1.H2 by plain torch: eigenvalues of W_E W_V W_O W_U' (H2 reads key/value head 1)
    plain = cell_json(
        page,
        "import torch\n"
        "norm = model.ln_final.original_component.weight.double()\n"
        "wu = model.W_U.detach().double() * norm[:, None]\n"
        "full = model.W_E.double() @ model.W_V[1, 1].double() @ model.W_O[1, 2].double() @ wu\n"
        "ev = torch.linalg.eigvals(full.detach())\n"
        "print(json.dumps(float(ev.sum().real / ev.abs().sum())))",
    )
    cell = card.locator(".jp-Transpector-sweep-cell[data-layer='1'][data-col='2']")
    assert float(cell.get_attribute("data-value") or "nan") == pytest.approx(plain, abs=1e-6)
    assert f"{plain:.3f}" in (cell.locator("title").text_content() or "")  # the hover's tooltip
    cell.click()
    selected(page, "L1.H2")
    listed = card.locator(".jp-Transpector-ovtokens[data-node='L1.H2'] li")
    listed.first.wait_for(timeout=5_000)
    assert listed.evaluate_all("els => els.map(e => Number(e.dataset.id))") == top[1][2]
    screenshot(card, "canvas-ov-copying")


def test_qk_positions_card(tiny_lab: Lab, page: Page) -> None:
    run_starter(tiny_lab, page, timeout=120_000)
    open_canvas(page)
    card = page.locator(".jp-Transpector-qkpositions")
    card.scroll_into_view_if_needed()
    card.get_by_label("Samples").fill("0")
    card.get_by_role("button", name="Profile").click()
    error = card.locator(".jp-Transpector-errortext")
    error.wait_for(timeout=30_000)
    assert "samples: Input should be greater than or equal to 1" in error.inner_text()
    card.get_by_label("Length").fill("16")
    card.get_by_label("Samples").fill("4")
    card.get_by_role("button", name="Profile").click()
    rows = card.locator(".jp-Transpector-qkprofile")
    rows.first.wait_for(timeout=60_000)
    heads, profile = cell_json(
        page,
        "r = session.tools.qk_positions(length=16, samples=4)\n"
        "print(json.dumps([[[h.node, h.previous] for h in r.heads], r.profile]))",
    )
    shown = rows.evaluate_all("els => els.map(e => [e.dataset.node, Number(e.dataset.score)])")
    assert [n for n, _ in shown] == [n for n, _ in heads]  # all 8 heads, highest first
    assert [s for _, s in shown] == pytest.approx([s for _, s in heads], abs=1e-9)
    top = shown[0][0]
    layer, head = (int(part[1:]) for part in top.split("."))
    values = rows.first.locator("rect").evaluate_all("els => els.map(e => Number(e.dataset.value))")
    assert values == pytest.approx(profile[layer][head], abs=1e-9)
    # Offset 1 from plain run_with_cache on the same seeded random tokens (BOS first)
    plain = cell_json(
        page,
        "import torch\n"
        "g = torch.Generator().manual_seed(0)\n"
        "t = torch.randint(0, model.cfg.d_vocab, (4, 16), generator=g)\n"
        "t[:, 0] = model.tokenizer.bos_token_id\n"
        "_, cc = model.run_with_cache(t, names_filter=lambda n: n.endswith('hook_pattern'))\n"
        "print(json.dumps([[float(torch.diagonal(cc[f'blocks.{l}.attn.hook_pattern'], offset=-1, "
        "dim1=-2, dim2=-1)[:, h].mean()) for h in range(4)] for l in range(2)]))",
    )
    for node, score in shown:
        at_layer, at_head = (int(part[1:]) for part in node.split("."))
        assert score == pytest.approx(plain[at_layer][at_head], abs=1e-5)
    second = shown[1][0]
    rows.nth(1).locator("rect").nth(3).click()
    selected(page, second)
    assert rows.nth(1).get_attribute("data-selected") == "true"
    card.get_by_text("every head's").click()  # the overview by layer
    overview = card.locator(".jp-Transpector-qkoverview .jp-Transpector-sweep-cell")
    assert overview.count() == 8
    cell = overview.and_(card.locator(f"[data-layer='{layer}'][data-col='{head}']"))
    assert float(cell.get_attribute("data-raw") or "nan") == pytest.approx(shown[0][1], abs=1e-9)
    cell.click()
    selected(page, top)
    assert rows.first.get_attribute("data-selected") == "true"
    screenshot(card, "canvas-qk-positions")


@pytest.mark.default_model
def test_weight_cards_on_smollm2(lab: Lab, page: Page) -> None:
    """SmolLM2's previous-token heads lead the positional card (random tokens: rotary), and the
    OV card's values are the tool's."""
    run_starter(lab, page)
    open_canvas(page)
    card = page.locator(".jp-Transpector-qkpositions")
    card.scroll_into_view_if_needed()
    card.get_by_role("button", name="Profile").click()  # length 32, 8 samples
    rows = card.locator(".jp-Transpector-qkprofile")
    rows.first.wait_for(timeout=120_000)
    heads = cell_json(
        page,
        "r = session.tools.qk_positions(length=32, samples=8)\n"
        "print(json.dumps([[h.node, h.previous] for h in r.heads[:12]]))",
    )
    shown = rows.evaluate_all("els => els.map(e => [e.dataset.node, Number(e.dataset.score)])")
    assert [n for n, _ in shown] == [n for n, _ in heads]
    assert shown[0][1] > 0.5  # a previous-token head
    rows.first.click()
    selected(page, shown[0][0])
    screenshot(card, "canvas-smollm2-qk-positions")

    ov = page.locator(".jp-Transpector-ovcopying")
    ov.scroll_into_view_if_needed()
    ov.get_by_label("Token").fill(" Paris")
    ov.get_by_role("button", name="Score").click()
    cells = ov.locator(".jp-Transpector-sweep-cell")
    cells.first.wait_for(timeout=120_000)
    copying = cell_json(
        page, "print(json.dumps(session.tools.ov_copying(token=' Paris', k=8).copying))"
    )
    values = cells.evaluate_all("els => els.map(e => Number(e.dataset.value))")
    assert values == pytest.approx([v for row in copying for v in row], abs=1e-9)
    best = max((v, layer, h) for layer, row in enumerate(copying) for h, v in enumerate(row))
    ov.locator(f".jp-Transpector-sweep-cell[data-layer='{best[1]}'][data-col='{best[2]}']").click()
    selected(page, f"L{best[1]}.H{best[2]}")
    ov.locator(".jp-Transpector-ovtokens li").first.wait_for(timeout=5_000)
    screenshot(ov, "canvas-smollm2-ov-copying")
