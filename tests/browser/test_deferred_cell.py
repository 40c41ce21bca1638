"""The deferred API in a notebook, in a real browser on the tiny model: a trace in a cell that
saves a head's output, zero-ablates it on the way and reads the logits, printed beside what
the canvas's ablation of the same head gives (the same numbers)."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page

from tests.browser.canvas_helpers import cell_json, run_new_cell, run_starter
from tests.browser.conftest import Lab, screenshot

pytestmark = [pytest.mark.browser]
TRACE = """with session.trace(session.prompt) as tr:
    z = tr.hook("blocks.0.attn.hook_z").output.save()
    tr.hook("blocks.0.attn.hook_z").head(1)[:] = 0
    logits = tr.model.output.save()
p = logits[0, -1].softmax(-1)
print("z", tuple(z.shape), "p(top)", round(float(p.max()), 6))"""


def test_a_trace_in_a_cell_agrees_with_the_session(tiny_lab: Lab, page: Page) -> None:
    run_starter(tiny_lab, page, timeout=120_000)
    output = run_new_cell(page, TRACE, paste=True)
    output.filter(has_text="p(top)").wait_for(timeout=60_000)
    printed = output.inner_text().split()
    traced = float(printed[printed.index("p(top)") + 1])
    ablated = cell_json(
        page,
        'a = session.ablate("L0.H1")\n'
        "p = session.run(lens=False).logits[-1].softmax(-1)\n"
        "session.remove(a.id)\n"
        "print(json.dumps(float(p.max())))",
    )
    assert traced == pytest.approx(ablated, abs=2e-6)
    assert printed[1:6] == ["(1,", "25,", "4,", "16)", "p(top)"]
    cell = page.locator(".jp-NotebookPanel .jp-Cell", has_text="with session.trace").last
    cell.scroll_into_view_if_needed()
    screenshot(cell, "deferred-cell")
