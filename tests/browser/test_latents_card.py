"""The Latents card in a real browser, on the tiny Llama with a tiny autoencoder trained in a
cell: selecting the MLP node offers "Use autoencoder", the active latents and a latent's
dashboard equal the latents tool's from a cell, and Ablate adds a latent intervention that a
cell sees (Restore removes it)."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page

from tests.browser.canvas_helpers import (
    cell_json,
    open_canvas,
    run_new_cell,
    run_starter,
    wait_until,
)
from tests.browser.conftest import Lab, screenshot
from tests.browser.test_neurons_card import DATASET

pytestmark = [pytest.mark.browser]
IMAGES = Path(__file__).resolve().parents[2] / "docs" / "images"
NODE = "L0.mlp"
TRAIN = """
sae = session.train_sae("blocks.0.hook_mlp_out", 64, 4, epochs=2)
session.load_sae(sae)
print(sae.report.fvu)"""


def test_latents_card(tiny_lab: Lab, page: Page) -> None:
    run_starter(tiny_lab, page, timeout=120_000)
    output = run_new_cell(page, DATASET + TRAIN)  # progress on stderr, the FVU on stdout
    output.and_(page.locator("[data-mime-type='application/vnd.jupyter.stdout']")).wait_for(
        timeout=60_000
    )
    open_canvas(page)
    page.locator(f".jp-Transpector-node[data-node-id='{NODE}'] .jp-Transpector-node-label").click()
    card = page.locator(".jp-Transpector-latents")
    card.scroll_into_view_if_needed()
    use = card.get_by_label("Use autoencoder")
    wait_until(lambda: use.is_enabled(), 30, "the autoencoder offered")
    use.check()
    listed = card.locator(".jp-Transpector-neuron-list li")
    listed.first.wait_for(timeout=30_000)
    ranked = cell_json(
        page,
        f"r = session.tools.latents(node='{NODE}', k=20)\n"
        "print(json.dumps([[x.latent, x.value, x.position] for x in r.latents]))",
    )
    shown = listed.evaluate_all(
        "els => els.map(e => [Number(e.dataset.latent), Number(e.dataset.value),"
        " Number(e.dataset.position)])"
    )
    assert [s[0] for s in shown] == [r[0] for r in ranked] and len(shown) > 0
    assert [s[1] for s in shown] == pytest.approx([r[1] for r in ranked], abs=1e-9)
    top = ranked[0][0]
    listed.first.locator("button").click()
    view = card.locator(f".jp-Transpector-latent-view[data-latent='{top}']")
    view.wait_for(timeout=60_000)
    expected = cell_json(
        page,
        f"v = session.tools.latents(node='{NODE}', latent={top}, contexts=8).view\n"
        "print(json.dumps([v.acts, [c.window for c in v.contexts], v.histogram.counts,"
        " [t.id for t in v.top_logits]]))",
    )
    acts, windows, counts, raises = expected
    prompt = view.get_by_label("Prompt activations").locator("span")
    assert prompt.evaluate_all("els => els.map(e => Number(e.dataset.act))") == pytest.approx(
        acts, abs=1e-9
    )
    rows = view.locator(".jp-Transpector-neuron-contexts > li")
    assert rows.evaluate_all("els => els.map(e => Number(e.dataset.window))") == windows
    bars = view.locator(".jp-Transpector-neuron-hist rect")
    assert bars.evaluate_all("els => els.map(e => Number(e.dataset.count))") == counts
    got = view.get_by_label("Raises logits").locator("li")
    assert got.evaluate_all("els => els.map(e => Number(e.dataset.id))") == raises
    screenshot(card, "canvas-latents-tiny")

    view.get_by_role("button", name="Ablate").click()
    view.get_by_role("button", name="Restore").wait_for(timeout=30_000)
    specs = cell_json(
        page,
        "print(json.dumps([[i.kind, i.node, i.latent, i.action] for i in session.interventions]"
        " + ['edit_latent' in session.code()]))",
    )
    assert specs == [["latent", NODE, top, "ablate"], True]
    view.get_by_role("button", name="Restore").click()
    view.get_by_role("button", name="Ablate").wait_for(timeout=30_000)
    assert cell_json(page, "print(json.dumps(len(session.interventions)))") == 0
