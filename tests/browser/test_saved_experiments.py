"""Saved experiments in a real browser, on a tiny model: saved from the canvas and from a cell,
a taken name that asks before overwriting, two compared (exactly the interventions that differ),
one restored with the metric it was saved with, and the notebook's metadata carrying them to a
kernel that has lost its state file."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page

from tests.browser.canvas_helpers import (
    STARTER_STATE,
    attach_again,
    cell_json,
    open_canvas,
    restart_kernel,
    run_new_cell,
    run_starter,
    wait_until,
)
from tests.browser.conftest import Lab, screenshot

pytestmark = [pytest.mark.browser]
NAMES = "print(json.dumps(list(session.experiments)))"


def test_save_compare_restore_and_carry_in_the_notebook(tiny_lab: Lab, page: Page) -> None:
    run_starter(tiny_lab, page, timeout=120_000)
    run_new_cell(page, "[session.delete_experiment(n) for n in list(session.experiments)]")
    tiny_lab.wait_for_idle_kernel()
    open_canvas(page)
    card = page.locator(".jp-Transpector-experiments")
    card.filter(has_text="None yet").wait_for(timeout=10_000)

    # From the canvas: a head ablated, saved under a name; the row shows the kernel's metric.
    run_new_cell(page, 'session.ablate("L0.H1")')
    page.locator(".jp-Transpector-intervention[data-node-id='L0.H1']").wait_for(timeout=10_000)
    card.get_by_label("Experiment name").fill("head off")
    card.get_by_role("button", name="Save experiment").click()
    head_off = card.locator(".jp-Transpector-experiment[data-name='head off']")
    head_off.wait_for(timeout=10_000)
    saved = cell_json(page, 'print(json.dumps(session.experiments["head off"].metric.value))')
    assert float(head_off.get_attribute("data-metric") or "nan") == pytest.approx(saved, abs=1e-9)

    # From a cell: another one shows at once.
    run_new_cell(
        page, 'session.clear()\nsession.ablate("L1.mlp")\nsession.save_experiment("mlp off")'
    )
    mlp_off = card.locator(".jp-Transpector-experiment[data-name='mlp off']")
    mlp_off.wait_for(timeout=10_000)

    # A taken name asks first; Cancel changes nothing.
    first_saved_at = head_off.get_attribute("data-saved-at")
    card.get_by_label("Experiment name").fill("head off")
    card.get_by_role("button", name="Save experiment").click()
    dialog = page.locator(".jp-Dialog", has_text="Overwrite experiment?")
    dialog.wait_for(timeout=5_000)
    dialog.get_by_role("button", name="Cancel").click()
    dialog.wait_for(state="detached", timeout=5_000)
    assert cell_json(page, NAMES) == ["head off", "mlp off"]
    assert head_off.get_attribute("data-saved-at") == first_saved_at

    # Compared: exactly the interventions that differ, and both metrics.
    card.get_by_label("Compare head off").check()
    card.get_by_label("Compare mlp off").check()
    diff = card.get_by_role("group", name="head off compared with mlp off")
    diff.wait_for(timeout=10_000)
    assert diff.locator("[data-side='a'] li").all_inner_texts() == ["zero-ablate L0.H1"]
    assert diff.locator("[data-side='b'] li").all_inner_texts() == ["zero-ablate L1.mlp"]
    card.scroll_into_view_if_needed()
    screenshot(card, "canvas-experiments")

    # Restored: the session's interventions and metric are the saved ones.
    head_off.get_by_role("button", name="Restore head off").click()
    page.locator(".jp-Transpector-intervention[data-node-id='L0.H1']").wait_for(timeout=10_000)
    now = cell_json(
        page,
        "print(json.dumps([session.run(lens=False).metric.value, "
        "[i.node for i in session.interventions]]))",
    )
    assert now == [pytest.approx(saved, abs=1e-6), ["L0.H1"]]

    # The notebook carries them: saved to disk, its metadata holds both in full.
    page.locator(".jp-NotebookPanel").first.click()
    page.keyboard.press("Control+s")
    wait_until(
        lambda: [e["name"] for e in notebook_experiments(tiny_lab)] == ["head off", "mlp off"],
        15,
        "the notebook's metadata",
    )
    assert notebook_experiments(tiny_lab)[0]["state"]["interventions"][0]["node"] == "L0.H1"

    # A kernel without its state file gets them back from the notebook when the canvas meets it.
    run_new_cell(page, f'import os\nos.remove("{STARTER_STATE}")')
    tiny_lab.wait_for_idle_kernel()
    restart_kernel(tiny_lab, page)
    attach_again(tiny_lab, page)
    mlp_off.wait_for(timeout=20_000)
    assert cell_json(page, "print(json.dumps(session.restored))") is False
    assert cell_json(page, NAMES) == ["head off", "mlp off"]
    restored = cell_json(page, 'print(json.dumps(session.experiments["head off"].metric.value))')
    assert restored == pytest.approx(saved, abs=1e-9)


def notebook_experiments(lab: Lab) -> list[dict[str, object]]:
    model = lab.api("api/contents/transpector-start.ipynb")
    found: list[dict[str, object]] = (
        model["content"]["metadata"].get("transpector", {}).get("experiments", [])
    )
    return found
