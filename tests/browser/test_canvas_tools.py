"""The canvas's analysis tools in a real browser on the tiny model: patch by drag (and remove),
token-hover attention tint, a logit-lens cell's top-k, all heads overlaid, keyboard reach.
Numbers the canvas shows are checked against the kernel's own TransformerLens cache."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page

from tests.browser.canvas_helpers import (
    cell_json,
    drag,
    lens_caught_up,
    open_canvas,
    rendered_head,
    run_starter,
    tokens,
    top_k,
    type_prompt,
    wait_until,
)
from tests.browser.conftest import Lab, screenshot

pytestmark = [pytest.mark.browser]


def test_patch_by_drag_then_remove(tiny_lab: Lab, page: Page) -> None:
    run_starter(tiny_lab, page, timeout=120_000)
    open_canvas(page)
    type_prompt(page, "Hello world")
    wait_until(lambda: "".join(tokens(page)).endswith("Hello world"), 10, "tokens")
    before = top_k(page)

    # Drag from L0.H1's patch dot: same-shape heads stay, the MLP and norms grey out.
    handle = rendered_head(page, 0, 1).locator(".jp-Transpector-patch-handle")
    drag(page, handle, rendered_head(page, 0, 3), release=False)
    mlp = page.locator(".jp-Transpector-node[data-node-id='L0.mlp']")
    assert mlp.get_attribute("data-patch") == "invalid"
    assert rendered_head(page, 0, 3).get_attribute("data-patch") == "valid"
    assert rendered_head(page, 0, 1).get_attribute("data-patch") == "source"
    screenshot(page, "canvas-tiny-patch-drag")
    page.mouse.up()

    patch = page.locator(".jp-Transpector-intervention[data-kind='patch']")
    patch.wait_for(timeout=10_000)
    assert "patch L0.H3 from L0.H1" in patch.inner_text()
    page.locator(".jp-Transpector-node[data-node-id='L0.H3'][data-marks='patch']").wait_for()
    remove = page.locator(".jp-Transpector-patch-remove")
    remove.wait_for(timeout=5_000)
    wait_until(lambda: top_k(page) != before, 10, "top-k after the patch")
    screenshot(page, "canvas-tiny-patched")
    spec = cell_json(page, "print(json.dumps([i.model_dump() for i in session.interventions]))")
    assert [(i["kind"], i["source"], i["node"], i["source_prompt"]) for i in spec] == [
        ("patch", "L0.H1", "L0.H3", "Hello world")
    ]

    # A drop on an incompatible node makes nothing, and the banner says why.
    drag(page, handle, mlp)
    banner = page.locator(".jp-Transpector-error")
    banner.wait_for(timeout=5_000)
    assert "Cannot patch L0.H1 into L0.mlp: L0.H1 gives [16] per position" in banner.inner_text()
    assert page.locator(".jp-Transpector-intervention").count() == 1

    # The patch edge's remove button takes it away: the outputs return to the clean ones.
    remove.click()
    page.locator(".jp-Transpector-intervention").first.wait_for(state="detached", timeout=10_000)
    assert page.locator(".jp-Transpector-patch-remove").count() == 0
    wait_until(lambda: top_k(page) == before, 10, "clean top-k after removing the patch")

    # Same-site patching: a node dropped onto itself takes its value from the Patch from prompt.
    page.get_by_placeholder("the prompt above").fill("Jolly words")
    drag(page, handle, rendered_head(page, 0, 1))
    patch.wait_for(timeout=10_000)
    assert "patch L0.H1 from L0.H1" in patch.inner_text()
    spec = cell_json(page, "print(json.dumps([i.model_dump() for i in session.interventions]))")
    assert [(i["source"], i["node"], i["source_prompt"]) for i in spec] == [
        ("L0.H1", "L0.H1", "Jolly words")
    ]
    wait_until(lambda: top_k(page) != before, 10, "top-k after the same-site patch")
    screenshot(page.locator(".jp-Transpector-graph"), "canvas-tiny-self-patch")
    remove.click()
    page.locator(".jp-Transpector-intervention").first.wait_for(state="detached", timeout=10_000)


def test_token_hover_tints_by_the_heads_attention(tiny_lab: Lab, page: Page) -> None:
    run_starter(tiny_lab, page, timeout=120_000)
    open_canvas(page)
    type_prompt(page, "abcdef")
    wait_until(lambda: "".join(tokens(page)).endswith("abcdef"), 10, "tokens")
    n = len(tokens(page))
    pattern = cell_json(
        page,
        "_, cache = model.run_with_cache(model.to_tokens(session.prompt))\n"
        "print(json.dumps(cache['blocks.1.attn.hook_pattern'][0, 2].tolist()))",
    )
    assert len(pattern) == n

    # Clicking head L1.H2 in the graph makes it the tint's head.
    page.locator(".react-flow__controls-fitview").click()
    rendered_head(page, 1, 2).click()  # zoomed out: a plain box, clicked anywhere
    picker = page.locator(".jp-Transpector-attnpicker")
    assert picker.locator("select[aria-label='Layer']").input_value() == "1"
    assert picker.locator("select[aria-label='Head']").input_value() == "2"

    def tint() -> list[float | None]:
        values = page.eval_on_selector_all(
            ".jp-Transpector-token", "els => els.map(e => e.dataset.attention ?? null)"
        )
        return [None if v is None else float(v) for v in values]

    # Hover the last token as query: each other token is tinted by its weight (float16 sent).
    last = page.locator(f".jp-Transpector-token[data-position='{n - 1}']")
    last.hover()
    wait_until(lambda: tint()[0] is not None, 10, "tint on hover")
    row = pattern[n - 1]
    assert tint()[: n - 1] == pytest.approx(row[: n - 1], abs=2e-3)
    assert tint()[n - 1] is None  # the hovered chip itself is outlined, not tinted
    screenshot(page, "canvas-tiny-hover-tint")

    # Key <- query: hovering token 0 tints each token by how much it attends to token 0.
    picker.get_by_role("button", name="key ← query").click()
    page.locator(".jp-Transpector-token[data-position='0']").hover()
    wait_until(lambda: tint()[1] is not None, 10, "key tint")
    assert tint()[1:] == pytest.approx([r[0] for r in pattern[1:]], abs=2e-3)

    # Keyboard: focusing a chip tints the same way as hovering it.
    page.mouse.move(0, 0)
    wait_until(lambda: tint()[1] is None, 5, "tint cleared")
    page.locator(".jp-Transpector-token[data-position='0']").focus()
    wait_until(lambda: tint()[1] is not None, 5, "tint on focus")


def test_lens_cell_top_k_and_all_heads_overlaid(tiny_lab: Lab, page: Page) -> None:
    run_starter(tiny_lab, page, timeout=120_000)
    open_canvas(page)
    type_prompt(page, "Hello")
    wait_until(lambda: "".join(tokens(page)).endswith("Hello"), 10, "tokens")
    expected = cell_json(
        page,
        "print(json.dumps([[t.token, t.prob] "
        "for t in session.lens_top_k('L1.resid_pre', 2, k=10)]))",
    )

    lens_caught_up(page)
    cell = page.locator(".jp-Transpector-lens-cell[data-layer='L1.resid_pre'][data-position='2']")
    cell.scroll_into_view_if_needed()
    grid_top1 = cell.get_attribute("data-prob")
    cell.hover()  # the tooltip is written on hover, from the cell's current run
    prob = float(grid_top1 or "nan")
    top_pct = f"{prob * 100:.0f}%" if prob >= 0.1 else f"{prob * 100:.1f}%"
    title = f"L1.resid_pre, position 2: {cell.get_attribute('data-token')} {top_pct}"
    assert cell.get_attribute("title") == title
    cell.click()
    items = page.locator(".jp-Transpector-lens-topk .jp-Transpector-lens-item")
    items.first.wait_for(timeout=10_000)
    shown = page.eval_on_selector_all(
        ".jp-Transpector-lens-item", "els => els.map(e => [e.dataset.token, +e.dataset.prob])"
    )
    assert [t for t, _ in shown] == [t for t, _ in expected]
    assert [p for _, p in shown] == pytest.approx([p for _, p in expected], abs=1e-6)
    assert shown[0][1] == pytest.approx(float(grid_top1 or "nan"), abs=1e-6)
    screenshot(page.locator(".jp-Transpector-lens"), "canvas-tiny-lens-card")

    # The combined attention node: all 4 heads in one heatmap, coloured per head, and per head.
    page.locator(".jp-Transpector-node[data-node-id='L0.attn'] .jp-Transpector-node-label").click()
    overlay = page.locator(".jp-Transpector-detail .jp-Transpector-overlay rect[data-top-head]")
    overlay.first.wait_for(timeout=10_000)
    heads = {int(h) for h in overlay.evaluate_all("els => els.map(e => e.dataset.topHead)")}
    assert heads <= {0, 1, 2, 3} and len(heads) >= 2
    assert page.locator(".jp-Transpector-legend span").count() == 4
    screenshot(page.locator(".jp-Transpector-detail"), "canvas-tiny-overlay-card")
    page.get_by_role("button", name="Per head").click()
    assert page.locator(".jp-Transpector-multiples figure").count() == 4

    # Keyboard: Tab reaches a graph node's label; Enter selects it.
    label = rendered_head(page, 0, 2).locator(".jp-Transpector-node-label")
    label.focus()
    page.keyboard.press("Enter")
    page.locator(".jp-Transpector-detail[data-node-id='L0.H2']").wait_for(timeout=5_000)


def test_patch_from_the_keyboard(tiny_lab: Lab, page: Page) -> None:
    run_starter(tiny_lab, page, timeout=120_000)
    open_canvas(page)
    patch_from = page.get_by_label("Patch from")
    patch_from.fill("Other words")  # a different token count than the prompt: refused, clearly
    label = page.locator(".jp-Transpector-node[data-node-id='L0.resid_post'] button").first
    label.focus()
    page.keyboard.press("Enter")
    group = page.get_by_role("group", name="Patch L0.resid_post into another node")
    group.wait_for(timeout=5_000)
    options = group.locator("select option").all_inner_texts()
    assert "L1.resid_pre" in options and "L0.H1" not in options  # d_model only, not d_head
    group.locator("select").select_option("L1.resid_pre")
    patch_into = group.get_by_role("button", name="Patch into")
    patch_into.focus()
    page.keyboard.press("Enter")
    page.locator(".jp-Transpector-error", has_text="give positions").wait_for(timeout=10_000)
    assert page.locator(".jp-Transpector-intervention").count() == 0
    patch_from.fill("The capital of Spain is.")  # as many tokens as the starter's prompt
    patch_into.focus()
    page.keyboard.press("Enter")
    item = page.locator(".jp-Transpector-intervention[data-kind='patch']")
    item.wait_for(timeout=10_000)
    expected = 'patch L1.resid_pre from L0.resid_post on "The capital of Spain is."'
    assert expected in item.inner_text()
    item.get_by_role("button").focus()
    page.keyboard.press("Enter")
    item.wait_for(state="detached", timeout=10_000)


def test_ablate_at_some_positions_and_find_a_folded_node(tiny_lab: Lab, page: Page) -> None:
    run_starter(tiny_lab, page, timeout=120_000)
    open_canvas(page)
    rendered_head(page, 0, 1).locator(".jp-Transpector-node-label").click()

    # Mean ablation needs reference prompts: without them it is refused with a message that
    # says what to do, and nothing is recorded (no version, no mark, the button not pressed).
    canvas = page.locator(".jp-Transpector-canvas")
    version = canvas.get_attribute("data-version")
    mean = page.locator(".jp-Transpector-detail button[data-action='mean']")
    mean.click()
    banner = page.locator(".jp-Transpector-error", has_text="mean ablation of L0.H1 needs")
    banner.wait_for(timeout=10_000)
    assert "session.reference_prompts" in banner.inner_text()
    head = page.locator(".jp-Transpector-node[data-node-id='L0.H1']")
    assert canvas.get_attribute("data-version") == version
    assert head.get_attribute("data-marks") == "" and mean.get_attribute("aria-pressed") == "false"
    # The banner tells of the last thing done: the next action (a lens cell here) replaces it.
    page.locator(".jp-Transpector-lens-cell").first.click()
    banner.wait_for(state="detached", timeout=10_000)
    page.locator(".jp-Transpector-lens button[aria-label='Close the lens cell']").click()
    cell_json(page, "session.reference_prompts = ['Hello there', 'A cat']\nprint(1)")
    mean.click()
    page.locator(".jp-Transpector-node[data-node-id='L0.H1'][data-marks~='ablate']").wait_for()
    assert mean.get_attribute("aria-pressed") == "true"
    mean.click()
    page.locator(".jp-Transpector-node[data-node-id='L0.H1'][data-marks='']").wait_for()
    positions = page.locator(".jp-Transpector-positions input")
    positions.fill("x")
    assert page.locator(".jp-Transpector-detail .jp-Transpector-errortext").is_visible()
    zero = page.locator(".jp-Transpector-detail button[data-action='zero']")
    assert zero.is_disabled()
    positions.fill("1, -1")
    zero.click()
    item = page.locator(".jp-Transpector-intervention[data-node-id='L0.H1']")
    item.wait_for(timeout=10_000)
    assert "zero-ablate L0.H1 at positions -1, 1" in item.inner_text()
    spec = cell_json(page, "print(json.dumps([i.positions for i in session.interventions]))")
    assert spec == [[-1, 1]]
    item.get_by_role("button").click()
    item.wait_for(state="detached", timeout=10_000)

    # Find: the keyboard's way to any node, even one in a folded layer.
    page.locator(".jp-Transpector-frame[data-layer='0'] .jp-Transpector-frame-header").click()
    page.locator(".jp-Transpector-node[data-node-id='L0.folded']").wait_for()
    find = page.get_by_label("Find")
    find.fill("L0.H3")
    find.press("Enter")
    page.locator(".jp-Transpector-detail[data-node-id='L0.H3']").wait_for(timeout=5_000)
    rendered_head(page, 0, 3).wait_for(timeout=5_000)
    assert rendered_head(page, 0, 3).get_attribute("data-selected") == "true"
