"""The canvas in a real browser: `transpector lab` on a tiny model (fast). The headline journey
on the default SmolLM2 model is in test_smollm2_journey.py."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from playwright.sync_api import Page
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from tests.browser.canvas_helpers import (
    CANVAS,
    cell_json,
    lens_caught_up,
    open_canvas,
    rendered_head,
    run_all_cells,
    run_new_cell,
    run_starter,
    tokens,
    top_k,
    type_prompt,
    wait_until,
)
from tests.browser.conftest import Lab, palette, screenshot

pytestmark = [pytest.mark.browser]


# ---- tiny model ---------------------------------------------------------------------------------
def test_canvas_on_the_tiny_model(tiny_lab: Lab, page: Page) -> None:
    run_starter(tiny_lab, page, timeout=120_000)
    open_canvas(page)
    canvas = page.locator(CANVAS)
    assert "2 layers · 4 heads" in canvas.locator(".jp-Transpector-status").inner_text()
    # The canvas opened beside the notebook, not over it.
    assert page.locator(".jp-NotebookPanel").first.is_visible()

    # Graph: it opens on layer 0, four heads with a DLA badge each; layer 1 is off screen, so
    # it is not rendered at all (only visible nodes render).
    page.locator(".jp-Transpector-frame[data-layer='0']").wait_for()
    assert page.locator(".jp-Transpector-node[data-node-id='L0.attn']").is_visible()
    assert page.locator(".jp-Transpector-node[data-kind='head']").count() == 4
    assert page.locator(".jp-Transpector-node[data-kind='head'] .jp-Transpector-dla").count() == 4
    assert page.locator(".jp-Transpector-frame[data-layer='1']").count() == 0
    assert page.locator(".react-flow__minimap").is_visible()

    # Typing a prompt: debounced, then tokens (with ids) and top-k of the new prompt.
    type_prompt(page, "Hello world")
    wait_until(lambda: "".join(tokens(page)).endswith("Hello world"), 10, "tokens of the prompt")
    ids = page.locator(".jp-Transpector-token-id").all_inner_texts()
    assert all(i.isdigit() for i in ids) and len(ids) == len(tokens(page))
    before = top_k(page)
    assert len(before) >= 3 and all(0 <= float(p) <= 1 for _, p in before)
    lens_caught_up(page)
    assert page.locator(".jp-Transpector-lens-cell").count() == 3 * len(tokens(page))
    assert page.locator(".jp-Transpector-loss svg rect").count() == len(tokens(page)) - 1
    screenshot(page, "canvas-tiny-light")

    # A head's attention pattern, fetched lazily as binary.
    rendered_head(page, 0, 1).locator(".jp-Transpector-node-label").click()
    pattern = page.locator(".jp-Transpector-detail [data-pattern-shape]")
    pattern.wait_for(timeout=10_000)
    n = len(tokens(page))
    assert pattern.get_attribute("data-pattern-shape") == f"{n}x{n}"
    assert page.locator(".jp-Transpector-detail .jp-Transpector-heatmap-cells rect").count() > 0
    page.locator(".jp-Transpector-detail").scroll_into_view_if_needed()
    screenshot(page, "canvas-tiny-head-pattern")

    # An MLP node shows its activation norm per position.
    page.locator(".jp-Transpector-node[data-node-id='L0.mlp'] .jp-Transpector-node-label").click()
    norms = page.locator(".jp-Transpector-detail [data-norm-shape]")
    norms.wait_for(timeout=10_000)
    assert norms.get_attribute("data-norm-shape") == str(n)
    assert norms.locator("rect").count() == n

    # The node's toolbar freezes it (and a second press removes the freeze).
    freeze = page.locator(".jp-Transpector-detail button[data-action='freeze']")
    freeze.click()
    page.locator(".jp-Transpector-node[data-node-id='L0.mlp'][data-marks='freeze']").wait_for()
    page.locator(".jp-Transpector-intervention[data-kind='freeze']").wait_for()
    assert freeze.get_attribute("aria-pressed") == "true"
    freeze.click()
    page.locator(".jp-Transpector-node[data-node-id='L0.mlp'][data-marks='']").wait_for()
    assert page.locator(".jp-Transpector-intervention").count() == 0

    # Ablate a head by its button: marked ablated, listed, outputs change.
    head = rendered_head(page, 0, 2)
    head.locator(".jp-Transpector-ablate").click()
    page.locator(".jp-Transpector-node[data-node-id='L0.H2'][data-ablated='true']").wait_for(
        timeout=10_000
    )
    page.locator(".jp-Transpector-intervention[data-node-id='L0.H2']").wait_for()
    wait_until(lambda: top_k(page) != before, 10, "top-k after ablating L0.H2")
    assert dashed_edges(page) == {"L0.H2->L0.attn"}  # only the ablated head's edge out
    screenshot(page, "canvas-tiny-ablated")

    # Isolating a head zeroes the other heads of its layer: they are drawn ablated, it is not.
    rendered_head(page, 0, 1).locator(".jp-Transpector-node-label").click()
    isolate = page.locator(".jp-Transpector-detail button[data-action='isolate']")
    isolate.click()
    page.locator(".jp-Transpector-node[data-node-id='L0.H1'][data-marks='isolate']").wait_for()
    for other in ("L0.H0", "L0.H2", "L0.H3"):
        page.locator(
            f".jp-Transpector-node[data-node-id='{other}'][data-marks~='ablate']"
        ).wait_for()
    assert dashed_edges(page) == {"L0.H0->L0.attn", "L0.H2->L0.attn", "L0.H3->L0.attn"}
    screenshot(page.locator(".jp-Transpector-graph"), "canvas-tiny-isolated")
    isolate.click()
    page.locator(".jp-Transpector-node[data-node-id='L0.H0'][data-marks='']").wait_for()

    # The notebook sees the canvas's ablation.
    output = run_new_cell(page, "session.interventions")
    output.filter(has_text="L0.H2").wait_for(timeout=20_000)
    assert "zero" in output.inner_text()

    # A cell that sets the prompt reaches the canvas within a second, without a click.
    run_new_cell(page, 'session.prompt = "abc"')  # warm the path once
    wait_until(lambda: tokens(page)[-3:] == ["a", "b", "c"], 5, "first cell-driven prompt")
    notebook = page.locator(".jp-NotebookPanel").first
    notebook.locator(".jp-Cell").last.locator(".jp-InputArea-prompt").click()
    page.keyboard.press("Escape")
    page.keyboard.press("b")
    page.keyboard.press("Enter")
    page.keyboard.type('session.prompt = "Cell driven"')
    page.keyboard.press("Shift+Enter")
    took = wait_until(
        lambda: "".join(tokens(page)).endswith("Cell driven"), 5, "cell-driven prompt"
    )
    assert took < 1.0, f"the canvas showed the cell's prompt after {took:.2f} s"
    assert page.locator(".jp-Transpector-prompt").input_value() == "Cell driven"

    # Remove the ablation from the list; copy as Python fetches the code.
    page.locator(".jp-Transpector-intervention button", has_text="Remove").click()
    page.locator(".jp-Transpector-node[data-node-id='L0.H2'][data-ablated='false']").wait_for(
        timeout=10_000
    )
    page.locator(".jp-Transpector-interventions button", has_text="Copy as Python").click()
    page.locator(".jp-Transpector-code summary", has_text="lines of Python").wait_for()

    # Folding a layer draws it as one node.
    page.locator(".jp-Transpector-frame[data-layer='0'] .jp-Transpector-frame-header").click()
    page.locator(".jp-Transpector-node[data-node-id='L0.folded']").wait_for()
    assert rendered_head(page, 0, 0).count() == 0
    page.locator(".jp-Transpector-button", has_text="Unfold all").click()
    rendered_head(page, 0, 0).wait_for()

    # Dark theme: the same view, from JupyterLab's theme variables.
    rendered_head(page, 0, 2).locator(".jp-Transpector-ablate").click()
    page.locator(".jp-Transpector-node[data-node-id='L0.H2'][data-ablated='true']").wait_for()
    # The copied code was the state before this change: its note goes.
    page.locator(".jp-Transpector-code").wait_for(state="detached", timeout=10_000)
    palette(page, "Use Theme: JupyterLab Dark")
    page.locator("body[data-jp-theme-light='false']").wait_for(state="attached", timeout=20_000)
    page.wait_for_timeout(500)
    screenshot(page, "canvas-tiny-dark")
    background = page.evaluate(
        "() => getComputedStyle(document.querySelector('.jp-TranspectorCanvas')).backgroundColor"
    )
    assert _luminance(background) < 0.3, background
    palette(page, "Use Theme: JupyterLab Light")
    page.locator("body[data-jp-theme-light='true']").wait_for(state="attached", timeout=20_000)

    # Fit view shows the whole model: both layers render now.
    page.locator(".react-flow__controls-fitview").click()
    page.locator(".jp-Transpector-frame[data-layer='1']").wait_for(timeout=5_000)
    assert page.locator(".jp-Transpector-node[data-kind='head']").count() == 8
    assert page.locator(".jp-Transpector-node[data-node-id='outputs']").count() == 1


def test_restart_shows_reconnecting_and_attach_help_then_comes_back(
    tiny_lab: Lab, page: Page
) -> None:
    run_starter(tiny_lab, page, timeout=120_000)
    open_canvas(page, via="toolbar")
    tiny_lab.wait_for_idle_kernel()
    # Before the restart: other prompts and an ablation, so the old session's version is higher
    # than the new one's will be.
    for text in ("Hello there", "Hello again", "Goodbye now"):
        type_prompt(page, text)
        wait_until(lambda t=text: "".join(tokens(page)).endswith(t), 10, text)
    rendered_head(page, 0, 2).locator(".jp-Transpector-ablate").click()
    page.locator(".jp-Transpector-node[data-ablated='true']").wait_for(timeout=10_000)
    # A fresh session after the restart (the starter keeps its state in a file: drop it), so
    # that the old session's outputs and the new one's differ.
    run_new_cell(page, "import os; os.remove('transpector-start.state.json')")
    tiny_lab.wait_for_idle_kernel()
    palette(page, "Restart Kernel…")
    page.locator(".jp-Dialog button", has_text="Restart").click()
    page.locator(f"{CANVAS}[data-connection='reconnecting']").or_(
        page.locator(f"{CANVAS}[data-connection='no_session']")
    ).wait_for(timeout=20_000)
    help_box = page.locator(".jp-Transpector-attach")
    help_box.wait_for(timeout=60_000)
    assert "transpector.attach(model)" in help_box.locator(".jp-Transpector-snippet").inner_text()
    screenshot(page, "canvas-tiny-no-session")
    tiny_lab.wait_for_idle_kernel()
    run_all_cells(page)
    page.locator(f"{CANVAS}[data-connection='live']").wait_for(timeout=120_000)
    page.locator(".jp-Transpector-topk-item").first.wait_for(timeout=30_000)
    # The new session's run shows, not the old one's: its prompt, no ablation.
    prompt = "The capital of France is"
    wait_until(lambda: "".join(tokens(page)).endswith(prompt), 20, "the new session's tokens")
    assert page.locator(".jp-Transpector-prompt").input_value() == prompt
    assert page.locator(".jp-Transpector-node[data-ablated='true']").count() == 0
    expected = cell_json(page, "print(json.dumps(session.run().top_k[-1][0].token))")
    wait_until(lambda: top_k(page)[0][0] == expected, 20, "the new session's top-k")


def test_the_panel_lists_sessions_and_opens_a_canvas(tiny_lab: Lab, page: Page) -> None:
    page.goto(tiny_lab.url)
    page.locator(".jp-NotebookPanel").wait_for(timeout=60_000)
    kernel_id = tiny_lab.wait_for_idle_kernel()
    sessions = tiny_lab.api("transpector/sessions")
    assert [s["kernel_id"] for s in sessions] == [kernel_id], json.dumps(sessions)
    palette(page, "Transpector: Open Panel")
    row = page.locator(f".jp-TranspectorPanel-kernel[data-kernel-id='{kernel_id}']")
    row.wait_for(timeout=10_000)
    if not sessions[0]["attached"]:
        run_all_cells(page)
        page.locator(
            f".jp-TranspectorPanel-kernel[data-kernel-id='{kernel_id}'][data-attached='true']"
        ).wait_for(timeout=120_000)
    row.locator("button").click()
    page.locator(f"{CANVAS}[data-connection='live']").wait_for(timeout=30_000)
    screenshot(page, "canvas-tiny-from-panel")

    # The header links the kernel app's API docs: Swagger UI, through the proxy, listing the
    # operations of its OpenAPI 3.1 document (no CDN: the browser here reaches nothing else).
    link = page.locator(".jp-Transpector-docs-link")
    assert link.get_attribute("href") == f"{tiny_lab.base}transpector/kernels/{kernel_id}/api/docs"
    with page.context.expect_page() as opened:
        link.click()
    docs = opened.value
    docs.locator(".opblock-summary-path", has_text="/api/tools/logit_lens").wait_for(timeout=30_000)
    paths = docs.locator(".opblock-summary-path").all_inner_texts()
    assert {"/api/graph", "/api/run", "/api/ops", "/api/tools/lens_top_k"} <= {
        p.strip() for p in paths
    }
    assert "Unable to render" not in docs.content()
    screenshot(docs, "api-docs")
    docs.close()

    # A closed canvas opens again from every entry point: the panel, the palette, the toolbar.
    for reopen in (
        lambda: row.locator("button").click(),
        lambda: open_canvas(page),
        lambda: open_canvas(page, via="toolbar"),
    ):
        close_canvas_tab(page)
        reopen()
        page.locator(f"{CANVAS}[data-connection='live']").wait_for(timeout=30_000)
        assert page.locator(CANVAS).count() == 1


def test_two_views_of_one_kernel_stay_identical(tiny_lab: Lab, page: Page) -> None:
    run_starter(tiny_lab, page)
    open_canvas(page)
    palette(page, "Transpector: New Canvas View")
    views = page.locator(f"{CANVAS}[data-connection='live']")
    wait_until(lambda: views.count() == 2, 30, "a second live view")
    first, second = views.nth(0), views.nth(1)

    def same() -> bool:
        keys = ("data-version", "data-run-version")
        a = [first.get_attribute(k) for k in keys]
        return a == [second.get_attribute(k) for k in keys] and a[0] == a[1]

    first.locator(".jp-Transpector-node[data-node-id='L0.H1'] .jp-Transpector-ablate").click()
    second.locator(".jp-Transpector-intervention[data-node-id='L0.H1']").wait_for(timeout=10_000)
    wait_until(same, 10, "both views at one version after an ablation in the first")
    box = second.locator(".jp-Transpector-prompt")
    box.click()
    box.press("Control+a")
    box.press_sequentially("two views", delay=15)

    def chips(view: Any) -> list[str]:
        tokens = view.locator(".jp-Transpector-token")
        return list(tokens.evaluate_all("e => e.map(x => x.dataset.token)"))

    wait_until(lambda: "".join(chips(first)[1:]) == "two views" and same(), 10, "prompt in both")
    assert chips(first) == chips(second)
    assert first.locator(".jp-Transpector-intervention").count() == 1
    screenshot(page, "canvas-tiny-two-views")
    second.locator(".jp-Transpector-intervention button").first.click()
    first.locator(".jp-Transpector-intervention").wait_for(state="detached", timeout=10_000)


def test_the_hook_inspector_lists_a_cells_hook_and_resets_it(tiny_lab: Lab, page: Page) -> None:
    run_starter(tiny_lab, page)
    canvas = open_canvas(page)
    hooks = canvas.locator(".jp-Transpector-hooks")
    hooks.locator(".jp-Transpector-dim", has_text="No hooks on the model").wait_for(timeout=10_000)
    run_new_cell(page, 'model.add_hook("blocks.0.hook_resid_post", lambda act, hook: None)')
    row = hooks.locator(".jp-Transpector-hook[data-hook-point='blocks.0.hook_resid_post']")
    for _ in range(20):  # the cell may still be running when Refresh is first pressed
        hooks.locator("button", has_text="Refresh").click()
        try:
            row.wait_for(timeout=500)
            break
        except PlaywrightTimeout:
            continue
    assert "<lambda>" in row.inner_text()
    screenshot(page, "canvas-tiny-hooks")
    hooks.locator("button[data-action='reset-hooks']").click()
    row.wait_for(state="detached", timeout=10_000)
    hooks.locator(".jp-Transpector-dim", has_text="Removed 1 hook").wait_for(timeout=10_000)
    count = run_new_cell(page, "print(len(session.hooks()))")
    count.filter(has_text="0").wait_for(timeout=20_000)


def close_canvas_tab(page: Page) -> None:
    tab = page.locator(".lm-DockPanel-tabBar .lm-TabBar-tab", has_text="Transpector ·")
    tab.locator(".lm-TabBar-tabCloseIcon").click()
    page.locator(CANVAS).wait_for(state="detached", timeout=10_000)


def dashed_edges(page: Page) -> set[str]:
    """The ids ("source->target") of the graph's edges drawn dashed."""
    dashes = page.eval_on_selector_all(
        ".react-flow__edge path.react-flow__edge-path",
        "els => els.map(e => [e.closest('.react-flow__edge').dataset.id,"
        " getComputedStyle(e).strokeDasharray])",
    )
    return {edge for edge, dash in dashes if dash not in ("none", "")}


def _luminance(css_color: str) -> float:
    r, g, b = (int(v) for v in re.findall(r"\d+", css_color)[:3])
    return (0.2126 * r + 0.7152 * g + 0.0722 * b) / 255
