"""The experiment controls in a real browser, on a tiny model: the metric, clean against
intervened, prompt pairs and reference prompts, a batch of prompts, a change that waits for a
busy kernel, and the state that a kernel restart brings back."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page

from tests.browser.canvas_helpers import (
    CANVAS,
    attach_again,
    cell_json,
    lens_caught_up,
    open_canvas,
    rendered_head,
    restart_kernel,
    run_new_cell,
    run_starter,
    wait_until,
)
from tests.browser.conftest import Lab, screenshot

pytestmark = [pytest.mark.browser]


def metric_line(page: Page) -> dict[str, str]:
    line = page.locator(".jp-Transpector-metric-value")
    return {
        "label": line.locator(".jp-Transpector-metric-label").inner_text(),
        "value": line.get_attribute("data-value") or "",
        "clean": line.get_attribute("data-clean") or "",
    }


def test_metric_clean_against_intervened_and_pairs(tiny_lab: Lab, page: Page) -> None:
    run_starter(tiny_lab, page, timeout=120_000)
    open_canvas(page)
    canvas = page.locator(CANVAS)
    # The default metric: the clean top token's probability, equal before and after.
    page.locator(".jp-Transpector-metric-value").wait_for(timeout=10_000)
    first = metric_line(page)
    assert first["label"].startswith("p(") and first["value"] == first["clean"]

    # A logit difference, set on the canvas: the session (and a cell) has it.
    metric = page.locator(".jp-Transpector-metric")
    metric.get_by_label("Metric").select_option("logit_diff")
    metric.get_by_label("Correct token").fill("a")
    metric.get_by_label("Wrong token").fill("b")
    metric.get_by_role("button", name="Set metric").click()
    wait_until(
        lambda: metric_line(page)["label"] == "logit('a') - logit('b')", 10, "the new metric"
    )
    assert cell_json(page, "print(json.dumps(session.metric.model_dump()))") == {
        "kind": "logit_diff",
        "correct": "a",
        "wrong": "b",
    }
    # A metric token that is two tokens: one plain sentence, nothing changed.
    metric.get_by_label("Correct token").fill("ab")
    metric.get_by_role("button", name="Set metric").click()
    banner = page.locator(".jp-Transpector-error")
    banner.wait_for(timeout=10_000)
    assert "'ab' is 2 tokens" in banner.inner_text()
    assert metric_line(page)["label"] == "logit('a') - logit('b')"

    # Ablate two heads: the metric shows clean -> now, top-k shows clean and change per token.
    for head in (0, 1):
        button = rendered_head(page, 0, head).locator("button[aria-label^='Zero-ablate']")
        version = int(canvas.get_attribute("data-run-version") or 0)
        button.click()
        wait_until(
            lambda v=version: int(canvas.get_attribute("data-run-version") or 0) > v, 15, "run"
        )
    lens_caught_up(page)
    shown = metric_line(page)
    expected = cell_json(
        page, "m = session.run(lens=False).metric\nprint(json.dumps([m.value, m.clean]))"
    )
    assert float(shown["value"]) == pytest.approx(expected[0], abs=1e-6)
    assert float(shown["clean"]) == pytest.approx(expected[1], abs=1e-6)
    items = page.locator(".jp-Transpector-topk-item")
    clean_probs = [float(v) for v in items.evaluate_all("els => els.map(e => e.dataset.cleanProb)")]
    expected_clean = cell_json(page, "print(json.dumps(session.run(lens=False).clean_probs[-1]))")
    assert clean_probs == pytest.approx(expected_clean[: len(clean_probs)], abs=1e-6)
    assert items.locator(".jp-Transpector-delta").count() == items.count()
    page.locator(".jp-Transpector-outputs").scroll_into_view_if_needed()
    screenshot(page, "canvas-metric-side-by-side")

    # Pairs: one of two token counts is refused with a message; a good one runs the corrupt
    # prompt with patches copied from the clean one.
    pairs = page.locator(".jp-Transpector-pairs")
    pairs.get_by_label("Clean prompt").fill("When Mary and John")
    pairs.get_by_label("Corrupt prompt").fill("When Mary and Johnny")
    pairs.get_by_role("button", name="Add pair").click()
    wait_until(lambda: "and the corrupt one" in banner.inner_text(), 10, "the pair's message")
    pairs.get_by_label("Clean prompt").fill("When Mary and John")
    pairs.get_by_label("Corrupt prompt").fill("When Anna and John")
    pairs.get_by_role("button", name="Add pair").click()
    pairs.locator(".jp-Transpector-pair").wait_for(timeout=10_000)
    pairs.get_by_role("button", name="patch from clean").click()
    wait_until(
        lambda: page.locator(".jp-Transpector-prompt").input_value() == "When Anna and John",
        10,
        "corrupt prompt",
    )
    assert pairs.locator(".jp-Transpector-pair[data-active='corrupt']").count() == 1
    state = cell_json(
        page, "print(json.dumps([session.prompt, [p.model_dump() for p in session.pairs]]))"
    )
    assert state == [
        "When Anna and John",
        [{"clean": "When Mary and John", "corrupt": "When Anna and John"}],
    ]
    pairs.scroll_into_view_if_needed()
    screenshot(page, "canvas-pair")

    # Reference prompts, one per line.
    references = pairs.get_by_label("Reference prompts")
    references.fill("the cat sat\na dog ran")
    pairs.get_by_role("button", name="Set 2 reference prompts").click()
    wait_until(
        lambda: (
            cell_json(page, "print(json.dumps(session.reference_prompts))")
            == ["the cat sat", "a dog ran"]
        ),
        15,
        "the reference prompts",
    )


def test_batch_of_prompts_and_a_change_that_waits_for_a_busy_kernel(
    tiny_lab: Lab, page: Page
) -> None:
    run_starter(tiny_lab, page, timeout=120_000)
    open_canvas(page)
    # A norm node shows its scale per position (what it divides the residual by).
    page.locator(".jp-Transpector-node[data-node-id='L0.ln1']").click()
    scale = page.locator(".jp-Transpector-detail [data-what='scale']")
    scale.wait_for(timeout=10_000)
    expected_scale = cell_json(page, "print(json.dumps(session.node_data('L0.ln1').tolist()))")
    titles = scale.locator("title").evaluate_all("els => els.map(e => e.textContent)")
    assert [float(t.rsplit(": ", 1)[1]) for t in titles] == pytest.approx(expected_scale, abs=2e-3)

    prompts = page.locator(".jp-Transpector-prompts")
    prompts.get_by_label("One per line").fill("one two\nthree four five\nsix")
    prompts.get_by_role("button", name="Set 3 prompts").click()
    prompts.get_by_role("button", name="Run all 3").wait_for(timeout=10_000)
    prompts.get_by_role("button", name="Run all 3").click()
    rows = prompts.locator(".jp-Transpector-batch tbody tr")
    wait_until(lambda: rows.count() == 3, 20, "a row per prompt")
    expected = cell_json(
        page, "print(json.dumps([r.mean_loss for r in session.tools.prompt_batch().rows]))"
    )
    shown = [float(t) for t in rows.locator("td:nth-child(3)").all_inner_texts()]
    assert shown == pytest.approx(expected, abs=1e-3)
    rows.nth(1).get_by_role("button").click()
    wait_until(
        lambda: page.locator(".jp-Transpector-prompt").input_value() == "three four five",
        10,
        "picked",
    )

    # A click while a cell keeps the kernel busy: pending on the list until the kernel takes it.
    run_new_cell(page, "import time; time.sleep(6)")
    page.locator(f"{CANVAS}[data-kernel-status='busy']").wait_for(timeout=10_000)
    rendered_head(page, 0, 2).locator("button[aria-label^='Zero-ablate']").click()
    pending = page.locator(".jp-Transpector-intervention[data-pending='add'][data-node-id='L0.H2']")
    pending.wait_for(timeout=2_000)
    assert "waiting for the kernel" in pending.inner_text()
    sign = page.locator(".jp-Transpector-node[data-node-id='L0.H2'][data-pending]")
    assert sign.locator(".jp-Transpector-pending-mark").is_visible()
    screenshot(page, "canvas-pending-change")
    pending.wait_for(state="detached", timeout=20_000)
    sign.wait_for(state="detached", timeout=5_000)
    taken = page.locator(".jp-Transpector-intervention[data-node-id='L0.H2']:not([data-pending])")
    taken.wait_for(timeout=10_000)

    # The state survives a kernel restart: the starter's cell brings it back from its file.
    read_state = "print(json.dumps(session.state.model_dump(exclude={'version'})))"
    before = cell_json(page, read_state)
    assert before["prompts"] == ["one two", "three four five", "six"]
    assert "L0.H2" in [i["node"] for i in before["interventions"]]
    restart_kernel(tiny_lab, page)
    attach_again(tiny_lab, page)
    assert cell_json(page, "print(json.dumps(session.restored))") is True
    assert cell_json(page, read_state) == before


def test_pick_many_nodes_and_change_them_all_at_once(tiny_lab: Lab, page: Page) -> None:
    run_starter(tiny_lab, page, timeout=120_000)
    open_canvas(page)
    run_new_cell(page, "session.clear()")
    tiny_lab.wait_for_idle_kernel()
    page.locator(".jp-Transpector-intervention").first.wait_for(state="detached", timeout=10_000)
    canvas = page.locator(CANVAS)
    for head in (0, 3):
        rendered_head(page, 0, head).click(modifiers=["Shift"])
    bar = page.locator(".jp-Transpector-picked")
    bar.filter(has_text="2 picked").wait_for(timeout=5_000)
    version = int(canvas.get_attribute("data-version") or 0)
    bar.get_by_role("button", name="Zero-ablate 2").click()
    wait_until(lambda: int(canvas.get_attribute("data-version") or 0) > version, 10, "the change")
    page.locator(".jp-Transpector-intervention:not([data-pending])").nth(1).wait_for(timeout=10_000)
    assert int(canvas.get_attribute("data-version") or 0) == version + 1  # one change for both
    nodes = cell_json(page, "print(json.dumps([i.node for i in session.interventions]))")
    assert sorted(nodes) == ["L0.H0", "L0.H3"]
    screenshot(page, "canvas-picked")
    bar.get_by_role("button", name="Clear picks").click()
    bar.wait_for(state="detached", timeout=5_000)

    # A box dragged with shift held picks every node in it: layer 0's four heads.
    first, last = (rendered_head(page, 0, h).bounding_box() for h in (0, 3))
    assert first is not None and last is not None
    page.keyboard.down("Shift")
    page.mouse.move(first["x"] - 12, first["y"] - 8)
    page.mouse.down()
    page.mouse.move(last["x"] + last["width"] + 4, last["y"] + last["height"] + 6, steps=10)
    page.mouse.up()
    page.keyboard.up("Shift")
    bar.filter(has_text="4 picked").wait_for(timeout=5_000)
    picked = page.locator(".jp-Transpector-node[data-picked]").evaluate_all(
        "els => els.map(e => e.dataset.nodeId)"
    )
    assert sorted(picked) == ["L0.H0", "L0.H1", "L0.H2", "L0.H3"]
    bar.get_by_role("button", name="Clear picks").click()
