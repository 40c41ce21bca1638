"""The headline journey in a real browser, on the default SmolLM2 model: ablate, patch, overlay,
tint, a lens cell, and a prompt longer than the lens window."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page

from tests.browser.canvas_helpers import (
    cell_json,
    drag,
    open_canvas,
    rendered_head,
    run_new_cell,
    run_starter,
    tokens,
    top_k,
    type_prompt,
    wait_until,
)
from tests.browser.conftest import Lab, screenshot, start_lab

pytestmark = [pytest.mark.browser]


@pytest.fixture(scope="module")
def smol_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    folder = tmp_path_factory.mktemp("smol-notebooks")
    home = tmp_path_factory.mktemp("smol-home")
    yield from start_lab(["--notebook-dir", str(folder)], home)


@pytest.mark.default_model
def test_headline_journey_on_smollm2(smol_lab: Lab, page: Page) -> None:
    run_starter(smol_lab, page)
    open_canvas(page)
    assert "30 layers · 9 heads" in page.locator(".jp-Transpector-status").inner_text()
    screenshot(page, "canvas-smollm2-opened")

    type_prompt(page, "The capital of France is")
    wait_until(lambda: "".join(tokens(page)).endswith("The capital of France is"), 20, "tokens")
    wait_until(lambda: " Paris" in [t for t, _ in top_k(page)], 20, "' Paris' in the top-k")
    before = top_k(page)
    screenshot(page, "canvas-smollm2-paris")

    rendered_head(page, 0, 0).locator(".jp-Transpector-ablate").click()
    page.locator(".jp-Transpector-node[data-node-id='L0.H0'][data-ablated='true']").wait_for(
        timeout=30_000
    )
    wait_until(lambda: top_k(page) != before, 30, "top-k after ablating L0.H0")
    # The ablation's run resumed from the kept input of block 0 (the embeddings ran once).
    timing = page.locator(".jp-Transpector-timing[data-resumed='0']")
    timing.wait_for(timeout=30_000)
    assert "resumed at block 0" in timing.inner_text()
    screenshot(page.locator(".jp-Transpector-outputs"), "canvas-smollm2-outputs-card")
    screenshot(page, "canvas-smollm2-ablated")

    output = run_new_cell(page, "session.interventions")
    output.filter(has_text="L0.H0").wait_for(timeout=30_000)
    screenshot(page, "canvas-smollm2-interventions-cell")

    # The analysis tools on the real model: a patch dragged between heads, layer 0's heads
    # overlaid, and the tokens tinted by head L0.H4's attention from the hovered last token.
    rendered_head(page, 0, 2).scroll_into_view_if_needed()  # the card pictures scrolled away
    handle = rendered_head(page, 0, 2).locator(".jp-Transpector-patch-handle")
    drag(page, handle, rendered_head(page, 0, 5))
    page.locator(".jp-Transpector-patch-remove").wait_for(timeout=30_000)
    page.locator(".jp-Transpector-node[data-node-id='L0.attn'] .jp-Transpector-node-label").click()
    page.locator(".jp-Transpector-overlay rect[data-top-head]").first.wait_for(timeout=30_000)
    picker = page.locator(".jp-Transpector-attnpicker")
    picker.locator("select[aria-label='Head']").select_option("4")
    page.locator(".jp-Transpector-token").last.hover()
    page.locator(".jp-Transpector-token[data-attention]").first.wait_for(timeout=30_000)
    screenshot(page, "canvas-smollm2-tools")
    screenshot(page.locator(".jp-Transpector-detail"), "canvas-smollm2-overlay-card")
    lens_cell = page.locator(".jp-Transpector-lens-cell[data-layer='L20.resid_pre']").last
    lens_cell.scroll_into_view_if_needed()
    lens_cell.click()
    page.locator(".jp-Transpector-lens-item").first.wait_for(timeout=30_000)
    screenshot(page.locator(".jp-Transpector-lens"), "canvas-smollm2-lens-card")
    page.locator(".jp-Transpector-lens button[aria-label='Close the lens cell']").click()

    # A prompt longer than the lens window: the run's lens covers the last 64 positions, and
    # the card pages to earlier ones, asked of the kernel. (The patch copies a 6-token prompt
    # at every position, so a longer prompt is refused until it goes.)
    page.locator(".jp-Transpector-patch-remove").click()
    page.locator(".jp-Transpector-patch-remove").wait_for(state="detached", timeout=30_000)
    long_prompt = " ".join(["The capital of France is Paris."] * 12)
    type_prompt(page, long_prompt)
    wait_until(lambda: "".join(tokens(page)).endswith("Paris."), 30, "the long prompt's tokens")
    n = len(tokens(page))
    pager = page.locator(".jp-Transpector-lens-pager")
    pager.filter(has_text=f"positions {n - 64}\u2013{n - 1} of {n}").wait_for(timeout=60_000)
    # The chips wrap into a bounded strip that scrolls; the lens opens at its last position,
    # and its layer names stay in view.
    strip = page.evaluate(
        "() => { const t = document.querySelector('.jp-Transpector-tokens');"
        " return [t.clientHeight, t.scrollHeight]; }"
    )
    assert strip[0] < 160 < strip[1], strip
    grid = page.evaluate(
        "() => { const s = document.querySelector('.jp-Transpector-lens .jp-Transpector-scroll-x');"
        " const row = s.querySelector(\"th[scope='row']\").getBoundingClientRect();"
        " const left = s.getBoundingClientRect().left;"
        " return [s.scrollLeft + s.clientWidth - s.scrollWidth, row.left - left]; }"
    )
    assert grid[0] >= -2 and 0 <= grid[1] < 2, grid
    pager.get_by_role("button", name="◀ earlier").click()
    first = page.locator(".jp-Transpector-lens-cell[data-layer='L20.resid_pre'][data-position='0']")
    first.wait_for(timeout=60_000)
    expected = cell_json(
        page,
        "lens = session.tools.logit_lens(positions=[0])\n"
        "print(json.dumps([lens.tokens[20][0], lens.probs[20][0]]))",
    )
    assert json.loads(first.get_attribute("data-token") or "null") == expected[0]
    assert float(first.get_attribute("data-prob") or "nan") == pytest.approx(expected[1], 1e-5)
    screenshot(page.locator(".jp-Transpector-lens"), "canvas-smollm2-lens-paged")


IOI_CLEAN = "When Mary and John went to the store, John gave a drink to"
IOI_CORRUPT = "When Mary and John went to the store, Mary gave a drink to"


@pytest.mark.default_model
def test_ioi_pair_metric_and_a_patch_on_smollm2(smol_lab: Lab, page: Page) -> None:
    """The pair, the metric and clean against intervened, as a researcher sets them up: an IOI
    pair, the logit difference " Mary" - " John", the corrupt prompt run with the whole residual
    stream after layer 0 patched in from the clean prompt (which restores the clean answer)."""
    run_starter(smol_lab, page)
    open_canvas(page)
    metric = page.locator(".jp-Transpector-metric")
    metric.get_by_label("Metric").select_option("logit_diff")
    metric.get_by_label("Correct token").fill(" Mary")
    metric.get_by_label("Wrong token").fill(" John")
    metric.get_by_role("button", name="Set metric").click()
    line = page.locator(".jp-Transpector-metric-value")
    line.filter(has_text="logit(' Mary') - logit(' John')").wait_for(timeout=30_000)

    pairs = page.locator(".jp-Transpector-pairs")
    pairs.get_by_label("Clean prompt").fill(IOI_CLEAN)
    pairs.get_by_label("Corrupt prompt").fill(IOI_CORRUPT)
    pairs.get_by_role("button", name="Add pair").click()
    pairs.get_by_role("button", name="patch from clean").click()
    wait_until(lambda: "".join(tokens(page)).endswith(IOI_CORRUPT), 30, "the corrupt prompt")

    page.locator(".jp-Transpector-node[data-node-id='L0.resid_post']").click()
    detail = page.locator(".jp-Transpector-detail[data-node-id='L0.resid_post']")
    detail.get_by_label("Patch target").select_option("L0.resid_post")
    detail.get_by_role("button", name="Patch into").click()
    page.locator(".jp-Transpector-intervention[data-kind='patch']:not([data-pending])").wait_for(
        timeout=30_000
    )
    # Independent numbers: the model itself on each prompt, no session involved.
    plain = cell_json(
        page,
        "encode = model.tokenizer.encode\n"
        "ids = [encode(t, add_special_tokens=False)[0] for t in (' Mary', ' John')]\n"
        "diff = lambda p: (lambda l: float(l[ids[0]] - l[ids[1]]))(model(p)[0, -1].detach())\n"
        f"print(json.dumps([diff({IOI_CLEAN!r}), diff({IOI_CORRUPT!r})]))",
    )
    wait_until(
        lambda: abs(float(line.get_attribute("data-value") or "nan") - plain[0]) < 1e-3,
        30,
        "the patched run's metric",
    )
    assert float(line.get_attribute("data-clean") or "nan") == pytest.approx(plain[1], abs=1e-3)
    assert plain[0] > 0 > plain[1]  # the clean prompt says " Mary", the corrupt one " John"
    page.locator(".jp-Transpector-topk-item[data-changed]").first.wait_for(timeout=30_000)
    screenshot(metric, "canvas-smollm2-metric")
    screenshot(page.locator(".jp-Transpector-outputs"), "canvas-smollm2-side-by-side")
    screenshot(pairs, "canvas-smollm2-pair")
    screenshot(page, "canvas-smollm2-ioi")

    # The pair swept: the residual stream at every layer and position, patched from the clean
    # prompt into the corrupt one; the heatmap shows the tool's own numbers.
    card = page.locator(".jp-Transpector-patching")
    card.get_by_label("Sweep", exact=True).select_option("resid_pre")
    card.get_by_role("button", name="Sweep").click()
    cells = card.locator(".jp-Transpector-sweep-cell")
    cells.first.wait_for(timeout=120_000)
    values = cell_json(
        page, "print(json.dumps(session.tools.activation_patching(sweep='resid_pre').values))"
    )
    shown = cells.evaluate_all("els => els.map(e => Number(e.dataset.value))")
    assert shown == pytest.approx(values, abs=1e-5)
    card.scroll_into_view_if_needed()
    screenshot(card, "canvas-smollm2-patching")

    # Attribution patching beside the real head sweep, with their correlation.
    card.get_by_label("Sweep", exact=True).select_option("head_out")
    card.get_by_label("with attribution estimate").check()
    card.get_by_role("button", name="Sweep").click()
    comparison = card.locator(".jp-Transpector-comparison")
    comparison.wait_for(timeout=120_000)
    r = float(comparison.get_attribute("data-correlation") or "nan")
    assert 0.5 < r <= 1, r  # a first-order estimate: close, not equal
    screenshot(card, "canvas-smollm2-attribution")

    # Edge attribution on the same pair, and the circuit of its top edges run alone.
    edges = page.locator(".jp-Transpector-edges-card")
    edges.get_by_role("button", name="Score edges").click()
    top = edges.locator(".jp-Transpector-edges li").first
    top.wait_for(timeout=60_000)
    best = cell_json(
        page,
        "e = session.tools.edge_attribution(max_edges=1).edges[0]\n"
        "print(json.dumps([e.from_node, e.to_node, e.score]))",
    )
    assert [top.get_attribute("data-from"), top.get_attribute("data-to")] == best[:2]
    assert float(top.get_attribute("data-score") or "nan") == pytest.approx(best[2], abs=1e-4)
    edges.get_by_role("button", name="Keep only these 20 edges").click()
    circuit = edges.locator(".jp-Transpector-circuit")
    circuit.wait_for(timeout=60_000)
    share = float(circuit.get_attribute("data-normalized") or "nan")
    assert -1 < share < 2, share  # the top 20 of 44k edges: a share of the clean behaviour
    edges.scroll_into_view_if_needed()
    screenshot(edges, "canvas-smollm2-edge-attribution")

    # Causal tracing of a fact: where the subject's state carries " Paris".
    page.locator(".jp-Transpector-interventions").get_by_role("button", name="Clear all").click()
    page.locator(".jp-Transpector-intervention").first.wait_for(state="detached", timeout=30_000)
    type_prompt(page, "The Eiffel Tower is in the city of")
    wait_until(lambda: "".join(tokens(page)).endswith("city of"), 30, "the fact's tokens")
    tracing = page.locator(".jp-Transpector-tracing")
    tracing.get_by_label("Subject").fill("The Eiffel Tower")
    tracing.get_by_label("Answer").fill(" Paris")
    tracing.get_by_label("Samples").fill("2")
    tracing.get_by_role("button", name="Trace").click()
    tracing.locator(".jp-Transpector-trace figure").first.wait_for(timeout=180_000)
    assert tracing.locator(".jp-Transpector-trace").get_attribute("data-answer") == " Paris"
    tracing.scroll_into_view_if_needed()
    screenshot(tracing, "canvas-smollm2-causal-trace")
