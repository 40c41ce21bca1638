"""The Knowledge edit card on SmolLM2 in a real browser: its example fact (the Eiffel Tower →
" Rome") computed at L4.mlp with a progress bar, its report the same as the tool's answer in a
cell, Apply putting " Rome" on top of the canvas's next-token list and the edit in the cell's
interventions, Remove giving " Paris" back (the README's picture)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from playwright.sync_api import Page

from tests.browser.canvas_helpers import (
    cell_json,
    open_canvas,
    run_starter,
    tokens,
    top_k,
    type_prompt,
    wait_until,
)
from tests.browser.conftest import Lab, screenshot

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
