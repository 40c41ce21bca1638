"""Cards on SmolLM2 in a real browser (the README's pictures). The Knowledge edit card: its
example fact (the Eiffel Tower → " Rome") computed at L4.mlp with a progress bar, its report the
same as the tool's answer in a cell, Apply putting " Rome" on top of the canvas's next-token list
and the edit in the cell's interventions, Remove giving " Paris" back. The Latents card: L0.mlp
through an autoencoder trained in a cell, its active latents and a latent's dashboard equal to
the latents tool's, Ablate adding a latent intervention. The lens card's Jacobian kind after a
short fit in a cell: TransformerLens's own readout, marked where it and the logit lens differ."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from playwright.sync_api import Page

from tests.browser.canvas_helpers import (
    cell_json,
    open_canvas,
    run_new_cell,
    run_starter,
    tokens,
    top_k,
    type_prompt,
    wait_until,
)
from tests.browser.conftest import Lab, screenshot
from tests.browser.test_jacobian_lens_card import READOUT
from tests.browser.test_neurons_card import SCRATCH

pytestmark = [pytest.mark.browser]
IMAGES = Path(__file__).resolve().parents[2] / "docs" / "images"


def test_knowledge_edit_card_on_smollm2(lab: Lab, page: Page) -> None:
    run_starter(lab, page)
    open_canvas(page)
    type_prompt(page, "The Eiffel Tower is located in the city of")
    wait_until(lambda: tokens(page)[-1] == " of", 60, "the fact's prompt on the canvas")
    card = page.locator(".jp-Transpector-knowledge")
    card.scroll_into_view_if_needed()
    card.locator("h3", has_text="of L4.mlp").wait_for()
    card.get_by_role("button", name="Compute edit").click()
    card.get_by_label("Progress").wait_for(timeout=30_000)
    report = card.get_by_label("Edit report")
    report.wait_for(timeout=240_000)
    rows = report.locator("tbody tr")
    shown = [[c.strip() for c in rows.nth(i).locator("td").all_text_contents()] for i in range(3)]
    expected = cell_json(
        page,
        "r = session.tools.knowledge_edit(node='L4.mlp', text='The Eiffel Tower is located in "
        "the city of', subject='The Eiffel Tower', target=' Rome', paraphrases=['Where is the "
        "Eiffel Tower? It is in the city of'], unrelated=['The capital of France is', 'The "
        "Colosseum is located in the city of'])\n"
        "print(json.dumps([[c.role, c.top_before, c.top_after] for c in r.checks]))",
    )
    assert [row[1] for row in shown] == [f'"{b}" → "{a}"' for _, b, a in expected[:3]]
    assert expected[0][1:] == [" Paris", " Rome"] and expected[1][1:] == [" Paris", " Rome"]
    assert rows.nth(0).get_attribute("data-good") == "true"
    assert top_k(page)[0][0] == " Paris"

    card.get_by_role("button", name="Apply edit").click()
    wait_until(lambda: top_k(page)[0][0] == " Rome", 60, "the edited top-1")
    kinds = cell_json(page, "print(json.dumps([i.kind for i in session.interventions]))")
    assert kinds == ["edit"]
    item = page.locator(".jp-Transpector-intervention", has_text="rank-one")
    assert "The Eiffel Tower is located in the city of" in item.text_content()
    page.set_viewport_size({"width": 1440, "height": 2400})
    card.scroll_into_view_if_needed()
    path = screenshot(card, "canvas-knowledge-edit")
    shutil.copy(path, IMAGES / "canvas-knowledge-edit.png")

    card.get_by_role("button", name="Remove edit").click()
    wait_until(lambda: top_k(page)[0][0] == " Paris", 60, "the clean top-1 back")
    assert cell_json(page, "print(json.dumps(len(session.interventions)))") == 0


SAE = """
session.set_dataset(window=64, max_windows=256)
sae = session.train_sae("blocks.0.hook_mlp_out", 1152, 16, epochs=6)
session.load_sae(sae)
print(round(sae.report.fvu, 3), sae.report.l0, sae.report.dead_latents)"""


def test_latents_card_on_smollm2(lab: Lab, page: Page) -> None:
    run_starter(lab, page)
    output = run_new_cell(page, SCRATCH + SAE, paste=True)
    output.and_(page.locator("[data-mime-type='application/vnd.jupyter.stdout']")).wait_for(
        timeout=120_000
    )
    open_canvas(page)
    page.locator(".jp-Transpector-node[data-node-id='L0.mlp'] .jp-Transpector-node-label").click()
    card = page.locator(".jp-Transpector-latents")
    card.scroll_into_view_if_needed()
    use = card.get_by_label("Use autoencoder")
    wait_until(lambda: use.is_enabled(), 60, "the autoencoder offered")
    use.check()
    listed = card.locator(".jp-Transpector-neuron-list li")
    listed.first.wait_for(timeout=60_000)
    ranked = cell_json(
        page,
        "r = session.tools.latents(node='L0.mlp', k=20)\n"
        "print(json.dumps([[x.latent, x.value, x.position] for x in r.latents]))",
    )
    shown = listed.evaluate_all(
        "els => els.map(e => [Number(e.dataset.latent), Number(e.dataset.value)])"
    )
    assert [s[0] for s in shown] == [r[0] for r in ranked] and len(shown) == 20
    assert [s[1] for s in shown] == pytest.approx([r[1] for r in ranked], abs=1e-9)
    top, at = next((r[0], i) for i, r in enumerate(ranked) if r[2] > 0)  # not one of BOS
    listed.nth(at).locator("button").click()
    view = card.locator(f".jp-Transpector-latent-view[data-latent='{top}']")
    view.wait_for(timeout=120_000)
    windows = cell_json(
        page,
        f"v = session.tools.latents(node='L0.mlp', latent={top}, contexts=8).view\n"
        "print(json.dumps([c.window for c in v.contexts]))",
    )
    rows = view.locator(".jp-Transpector-neuron-contexts > li")
    assert rows.evaluate_all("els => els.map(e => Number(e.dataset.window))") == windows
    view.get_by_role("button", name="Ablate").click()
    view.get_by_role("button", name="Restore").wait_for(timeout=60_000)
    specs = cell_json(
        page, "print(json.dumps([[i.kind, i.latent] for i in session.interventions]))"
    )
    assert specs == [["latent", top]]
    page.set_viewport_size({"width": 1440, "height": 2400})
    card.scroll_into_view_if_needed()
    path = screenshot(card, "canvas-latents")
    shutil.copy(path, IMAGES / "canvas-latents.png")


def test_jacobian_lens_on_smollm2(lab: Lab, page: Page) -> None:
    """A short fit in a cell (one window of 16 tokens); the lens card's Jacobian kind then shows
    TransformerLens's own readout of that lens, marked where it and the logit lens differ."""
    run_starter(lab, page)
    fit = "session.fit_jacobian_lens(n_prompts=1, max_seq_len=16, skip_first_positions=2)"
    run_new_cell(page, SCRATCH + f"\nprint({fit}.n_prompts)", paste=True).and_(
        page.locator("[data-mime-type='application/vnd.jupyter.stdout']")
    ).wait_for(timeout=180_000)
    lab.wait_for_idle_kernel()
    open_canvas(page)
    card = page.locator(".jp-Transpector-lens")
    card.get_by_role("button", name="Jacobian").click()
    grid = card.get_by_label("Jacobian lens grid")
    grid.wait_for(timeout=60_000)
    expected = cell_json(page, READOUT)
    cells = grid.locator(".jp-Transpector-lens-cell")
    shown = cells.evaluate_all(
        "els => els.map(e => [e.dataset.layer, Number(e.dataset.position),"
        " Number(e.dataset.tokenId), e.dataset.differs === 'logit'])"
    )
    want = {(row, p): (jid, lid) for row, p, jid, lid in expected}
    assert {(row, p): jid for row, p, jid, _ in shown} == {k: v[0] for k, v in want.items()}
    marked = {(row, p) for row, p, _, differs in shown if differs}
    assert marked == {k for k, (jid, lid) in want.items() if jid != lid} and marked
    page.set_viewport_size({"width": 1440, "height": 2400})
    card.scroll_into_view_if_needed()
    path = screenshot(card, "canvas-jacobian-lens")
    shutil.copy(path, IMAGES / "canvas-jacobian-lens.png")
