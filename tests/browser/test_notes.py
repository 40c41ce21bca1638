"""Notes in a real browser, on a tiny model: a note written from a cell shows as a mark on its
node and as Markdown (JupyterLab's renderer) in the Notes card; one written in a node's detail
panel reaches the kernel; notes on a token position and a lens cell select them when clicked;
and notes survive a kernel restart with the notebook reopened."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page

from tests.browser.canvas_helpers import (
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
NOTES = "print(json.dumps(session.notes))"


def test_notes_from_a_cell_and_from_the_canvas(tiny_lab: Lab, page: Page) -> None:
    run_starter(tiny_lab, page, timeout=120_000)
    run_new_cell(page, '[session.note(t, "") for t in list(session.notes)]')
    tiny_lab.wait_for_idle_kernel()
    open_canvas(page)
    card = page.locator(".jp-Transpector-notes")
    card.filter(has_text="None yet").wait_for(timeout=10_000)

    # From a cell, in Markdown: the node's mark (its first line as title) and the card's
    # rendering by JupyterLab (a <strong>, a list), sanitized (no script survives).
    text = "**Copy head**: attends to the previous token\\n\\n- checked on *hello*\\n- see L0.H1"
    run_new_cell(page, f'session.note("L1.H2", "{text}<script>window.pwned = 1</script>")')
    item = card.locator(".jp-Transpector-note[data-target='L1.H2']")
    item.wait_for(timeout=10_000)
    # A click on the note's target selects its node and brings it into sight (layer 1 is
    # off screen at first).
    card.get_by_role("button", name="L1.H2", exact=True).click()
    page.locator(".jp-Transpector-detail[data-node-id='L1.H2']").wait_for(timeout=5_000)
    mark = page.locator(".jp-Transpector-node[data-node-id='L1.H2'] .jp-Transpector-note-mark")
    mark.wait_for(timeout=10_000)
    assert mark.get_attribute("title") == "**Copy head**: attends to the previous token"
    item.locator(".jp-RenderedMarkdown strong", has_text="Copy head").wait_for(timeout=10_000)
    assert item.locator(".jp-RenderedMarkdown li").count() == 2
    assert item.locator(".jp-RenderedMarkdown em", has_text="hello").count() == 1
    assert item.locator("script").count() == 0 and page.evaluate("window.pwned") is None
    page.mouse.move(0, 0)  # no hover tooltip over the layer
    screenshot(page.locator(".jp-Transpector-frame[data-layer='1']"), "canvas-note-mark")

    # From the canvas: select a node, write its note in the detail panel; a cell reads it.
    find = page.get_by_label("Find", exact=True)
    find.fill("L0.H1")
    find.press("Enter")  # selects it and brings it into sight
    detail = page.locator(".jp-Transpector-detail[data-node-id='L0.H1']")
    box = detail.get_by_label("Note text for L0.H1")
    box.fill("Previous-token head? **check** with a sweep")
    screenshot(detail, "canvas-note-editor")
    detail.get_by_role("button", name="Save note").click()
    card.locator(".jp-Transpector-note[data-target='L0.H1'] strong").wait_for(timeout=10_000)
    page.locator(".jp-Transpector-node[data-node-id='L0.H1'] .jp-Transpector-note-mark").wait_for(
        timeout=10_000
    )
    notes = cell_json(page, NOTES)
    assert notes["L0.H1"] == "Previous-token head? **check** with a sweep"
    assert notes["L1.H2"].startswith("**Copy head**")

    # Delete it in the panel: gone from the card, the graph and the kernel.
    detail.get_by_role("button", name="Delete note").click()
    card.locator(".jp-Transpector-note[data-target='L0.H1']").wait_for(
        state="detached", timeout=10_000
    )
    assert box.input_value() == ""
    assert (
        page.locator(".jp-Transpector-node[data-node-id='L0.H1'] .jp-Transpector-note-mark").count()
        == 0
    )
    assert "L0.H1" not in cell_json(page, NOTES)

    # A token position and a lens cell: listed after the nodes; a click selects each.
    run_new_cell(
        page,
        'session.note("pos:1", "the **second** token"); '
        'session.note("lens:L1.resid_pre@-1", "the answer forms here")',
    )
    rows = card.locator(".jp-Transpector-note")
    wait_until(lambda: rows.count() == 3, 10, "three notes listed")
    assert rows.evaluate_all("els => els.map(e => e.dataset.target)") == [
        "L1.H2",
        "pos:1",
        "lens:L1.resid_pre@-1",
    ]
    card.get_by_role("button", name="position 1", exact=True).click()
    page.locator(".jp-Transpector-token[data-position='1'][aria-pressed='true']").wait_for(
        timeout=5_000
    )
    n_tokens = page.locator(".jp-Transpector-token").count()
    card.get_by_role("button", name="lens L1.resid_pre @ -1").click()
    opened = page.locator(
        f".jp-Transpector-lens-topk[data-layer='L1.resid_pre'][data-position='{n_tokens - 1}']"
    )
    opened.wait_for(timeout=10_000)
    assert (
        page.locator(
            f".jp-Transpector-lens-cell[data-layer='L1.resid_pre'][data-position='{n_tokens - 1}']"
        ).get_attribute("aria-pressed")
        == "true"
    )
    card.scroll_into_view_if_needed()
    screenshot(card, "canvas-notes")

    # A sweep cell's note selects the node it patches.
    run_new_cell(page, 'session.note("sweep:head_out:L1.H3", "restores most of the answer")')
    target = card.get_by_role("button", name="head_out sweep L1.H3")
    target.click()
    page.locator(".jp-Transpector-detail[data-node-id='L1.H3']").wait_for(timeout=5_000)

    # Notes survive a kernel restart and the notebook reopened (a fresh page): the starter's
    # state file brings them back when the session is attached again.
    before = cell_json(page, NOTES)
    restart_kernel(tiny_lab, page, canvas_open=False)
    page.goto(tiny_lab.url)
    page.locator(".jp-NotebookPanel").wait_for(timeout=60_000)
    tiny_lab.wait_for_idle_kernel()
    attach_again(tiny_lab, page, canvas_open=False)
    assert cell_json(page, NOTES) == before and len(before) == 4
    open_canvas(page)
    card.locator(".jp-Transpector-note").nth(len(before) - 1).wait_for(timeout=10_000)
    assert card.locator(".jp-Transpector-note").count() == len(before)
