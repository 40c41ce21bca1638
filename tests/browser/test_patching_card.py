"""The activation patching card in a real browser, on a tiny model: a sweep of a pair with
progress, its heatmap against the tool called from a cell, and a cell clicked into a patch."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page

from tests.browser.canvas_helpers import (
    cell_json,
    listed_edges_match,
    open_canvas,
    run_new_cell,
    run_starter,
    wait_until,
)
from tests.browser.conftest import Lab, screenshot

pytestmark = [pytest.mark.browser]


def test_sweep_a_pair_and_patch_a_cell(tiny_lab: Lab, page: Page) -> None:
    run_starter(tiny_lab, page, timeout=120_000)
    run_new_cell(page, 'session.pairs = [("hello world", "hello wurld")]')
    tiny_lab.wait_for_idle_kernel()
    open_canvas(page)
    card = page.locator(".jp-Transpector-patching")
    card.get_by_role("button", name="Sweep").wait_for(timeout=10_000)
    card.get_by_label("Sweep", exact=True).select_option("resid_pre")
    card.get_by_role("button", name="Sweep").click()
    cells = card.locator(".jp-Transpector-sweep-cell")
    cells.first.wait_for(timeout=60_000)
    expected = cell_json(
        page,
        "r = session.tools.activation_patching(sweep='resid_pre')\n"
        "print(json.dumps([r.shape, r.values]))",
    )
    shape, values = expected
    assert cells.count() == shape[0] * shape[1]
    shown = cells.evaluate_all("els => els.map(e => Number(e.dataset.value))")
    assert shown == pytest.approx(values, abs=1e-6)
    # Position 8 is where the pair differs: patching layer 0's input there restores the clean run.
    restoring = card.locator(".jp-Transpector-sweep-cell[data-layer='0'][data-col='8']")
    assert float(restoring.get_attribute("data-value") or "nan") == pytest.approx(1, abs=1e-3)
    card.scroll_into_view_if_needed()
    screenshot(card, "canvas-patching-sweep")
    # The graph tinted by the sweep: each residual node its largest cell (sign kept).
    card.get_by_label("Tint the graph by these scores").check()
    tinted = page.locator(".jp-Transpector-node[data-node-id='L0.resid_pre'][data-tint]")
    tinted.wait_for(timeout=5_000)
    layer0 = values[: shape[1]]
    assert float(tinted.get_attribute("data-tint") or "nan") == pytest.approx(
        max(layer0, key=abs), abs=1e-6
    )

    restoring.click()
    page.locator(".jp-Transpector-intervention[data-kind='patch']:not([data-pending])").wait_for(
        timeout=10_000
    )
    state = cell_json(
        page,
        "print(json.dumps([session.prompt, [i.model_dump() for i in session.interventions]]))",
    )
    assert state[0] == "hello wurld"
    (patch,) = state[1]
    assert (patch["node"], patch["source"], patch["source_prompt"], patch["positions"]) == (
        "L0.resid_pre",
        "L0.resid_pre",
        "hello world",
        [8],
    )
    # The metric (the clean run's top token's probability) now reads as on the clean prompt: a
    # plain forward of the model on each prompt, no session involved.
    expected_value = cell_json(
        page,
        "top = model('hello wurld')[0, -1].argmax()\n"
        "p = model('hello world')[0, -1].softmax(-1)[top].item()\n"
        "print(json.dumps(p))",
    )
    line = page.locator(".jp-Transpector-metric-value")
    wait_until(
        lambda: abs(float(line.get_attribute("data-value") or "nan") - expected_value) < 1e-4,
        20,
        "the patched run scoring like the clean prompt",
    )


def test_attribution_beside_the_real_sweep_and_a_causal_trace(tiny_lab: Lab, page: Page) -> None:
    run_starter(tiny_lab, page, timeout=120_000)
    run_new_cell(page, 'session.pairs = [("hello world", "hello wurld")]')
    tiny_lab.wait_for_idle_kernel()
    open_canvas(page)
    card = page.locator(".jp-Transpector-patching")
    card.get_by_label("Sweep", exact=True).select_option("head_out")
    card.get_by_label("with attribution estimate").check()
    card.get_by_role("button", name="Sweep").click()
    comparison = card.locator(".jp-Transpector-comparison")
    comparison.wait_for(timeout=60_000)
    expected = cell_json(
        page,
        "r = session.tools.attribution_patching(sweep='head_out', compare=True)\n"
        "print(json.dumps([r.correlation, r.values, r.real.values]))",
    )
    correlation, estimate, real = expected
    assert float(comparison.get_attribute("data-correlation") or "nan") == pytest.approx(
        correlation, abs=1e-6
    )
    shown = comparison.locator("figure[data-kind='estimate'] .jp-Transpector-sweep-cell")
    assert shown.evaluate_all("els => els.map(e => Number(e.dataset.value))") == pytest.approx(
        estimate, abs=1e-6
    )
    shown_real = comparison.locator("figure[data-kind='real'] .jp-Transpector-sweep-cell")
    assert shown_real.evaluate_all("els => els.map(e => Number(e.dataset.value))") == pytest.approx(
        real, abs=1e-6
    )
    assert f"{correlation:.3f}" in comparison.inner_text()
    screenshot(card, "canvas-attribution")

    # Causal tracing of the canvas's prompt: the card's heatmaps show the tool's numbers.
    tracing = page.locator(".jp-Transpector-tracing")
    tracing.get_by_label("Subject").fill("hello")  # not in the prompt: the card says so
    tracing.get_by_role("button", name="Trace").click()
    problem = tracing.locator(".jp-Transpector-errortext")
    problem.filter(has_text="is not in the prompt").wait_for(timeout=30_000)
    tracing.get_by_label("Subject").fill("capital")
    tracing.get_by_label("Samples").fill("2")
    tracing.get_by_role("button", name="Trace").click()
    grids = tracing.locator(".jp-Transpector-trace figure")
    grids.first.wait_for(timeout=60_000)
    prompt = cell_json(page, "print(json.dumps(session.prompt))")
    traced = cell_json(
        page,
        f"t = session.tools.causal_tracing(text={prompt!r}, subject='capital', samples=2)\n"
        "print(json.dumps([[x.kind, x.probs] for x in t.traces]))",
    )
    assert grids.count() == len(traced)
    for kind, probs in traced:
        cells = tracing.locator(f"figure[data-kind='{kind}'] .jp-Transpector-sweep-cell")
        raw = cells.evaluate_all("els => els.map(e => Number(e.dataset.raw))")
        assert raw == pytest.approx([p for row in probs for p in row], abs=1e-6)
    tracing.scroll_into_view_if_needed()
    screenshot(tracing, "canvas-causal-trace")


def test_composition_edges_and_the_residual_stream(tiny_lab: Lab, page: Page) -> None:
    run_starter(tiny_lab, page, timeout=120_000)
    open_canvas(page)
    card = page.locator(".jp-Transpector-composition")
    card.get_by_role("button", name="Score").click()
    call = "session.tools.head_composition(kind='K', max_edges=200)"
    expected = listed_edges_match(page, card, call)
    # Drawn on the graph: every pair above the threshold whose heads are drawn (fit view).
    card.get_by_label("draw on the graph the pairs above").check()
    page.locator(".react-flow__controls-fitview").click()
    edges = page.locator(".jp-Transpector-composition-edge")
    edges.first.wait_for(timeout=10_000)
    slider = card.get_by_label("Threshold")
    for _ in range(40):  # lower the threshold: more pairs drawn
        slider.press("ArrowLeft")
    bar = card.locator("[data-threshold]")
    threshold = float(bar.get_attribute("data-threshold") or "nan")
    wait_until(
        lambda: edges.count() == len([e for e in expected if e[2] >= threshold]), 10, "edges"
    )
    assert edges.count() > 1
    screenshot(page.locator(".jp-Transpector-graph"), "canvas-composition-edges")

    # The residual stream at the last position: its components add up to the run's logit.
    residual = page.locator(".jp-Transpector-residual")
    residual.get_by_label("decompose (asked again after every run)").check()
    summed = residual.locator("[data-total]")
    summed.wait_for(timeout=30_000)
    total = float(summed.get_attribute("data-total") or "nan")
    top = cell_json(page, "print(json.dumps(session.run(lens=False).logits[-1].max().item()))")
    assert total == pytest.approx(top, abs=1e-3)
    assert float(summed.get_attribute("data-logit") or "nan") == pytest.approx(top, abs=1e-4)
    assert residual.locator(".jp-Transpector-components li").count() == 12
