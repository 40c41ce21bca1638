"""The residual stream card's stacked bars in a real browser, on a tiny model: each layer's
segments, totals, norms and cumulative contributions against the tool called from a cell, a
click on a segment that selects and centres its node on the graph, and the edits' own bar once
an intervention writes into the stream."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import Page

from tests.browser.canvas_helpers import cell_json, open_canvas, run_starter, wait_until
from tests.browser.conftest import Lab, palette, screenshot
from tests.browser.test_graph_view import VISIBLE_PART, centre

pytestmark = [pytest.mark.browser]

READ = (
    "r = session.tools.residual_stream()\n"
    "print(json.dumps([r.components, r.contributions[0], r.rows, "
    "[n[0] for n in r.norms], [c[0] for c in r.cumulative]]))"
)


def bar_of(name: str) -> str:
    """The bar a component belongs to, as the card groups them (residualBars.ts)."""
    layer = re.match(r"L(\d+)\.", name)
    if layer:
        return f"L{layer.group(1)}"
    return "embed" if name in ("embed", "pos_embed") else "edits" if name == "edits" else "final"


def bars_shown(card: Any) -> dict[str, dict[str, float | None]]:
    rows = card.locator(".jp-Transpector-rbars-row[data-bar]").evaluate_all(
        "els => els.map(e => [e.dataset.bar, Number(e.dataset.barTotal),"
        " e.dataset.norm === undefined ? null : Number(e.dataset.norm),"
        " e.dataset.cumulative === undefined ? null : Number(e.dataset.cumulative)])"
    )
    return {r[0]: {"total": r[1], "norm": r[2], "cumulative": r[3]} for r in rows}


def test_stacked_bars_match_the_tool_and_a_click_centres_the_node(
    tiny_lab: Lab, page: Page
) -> None:
    run_starter(tiny_lab, page, timeout=120_000)
    open_canvas(page)
    card = page.locator(".jp-Transpector-residual")
    card.get_by_label("decompose (asked again after every run)").check()
    segments = card.locator(".jp-Transpector-rbars-seg")
    segments.first.wait_for(timeout=30_000)
    names, values, rows, norms, cumulative = cell_json(page, READ)
    n_layers = len(rows) - 1

    # One bar per layer, the embeddings first; each bar's total is its components' sum, and it
    # carries the norm and cumulative contribution of the residual row it writes.
    shown = bars_shown(card)
    expected: dict[str, float] = {}
    for name, value in zip(names, values, strict=True):
        expected[bar_of(name)] = expected.get(bar_of(name), 0.0) + value
    assert list(shown) == list(expected)
    assert list(shown)[: n_layers + 1] == ["embed", *[f"L{layer}" for layer in range(n_layers)]]
    for key, bar in shown.items():
        assert bar["total"] == pytest.approx(expected[key], abs=1e-5), key
    for r, key in enumerate(["embed", *[f"L{layer}" for layer in range(n_layers)]]):
        assert shown[key]["norm"] == pytest.approx(norms[r], rel=1e-5), key
        assert shown[key]["cumulative"] == pytest.approx(cumulative[r], abs=1e-5), key

    # Each drawn segment is one component with the tool's value; only zeros go undrawn.
    drawn = dict(
        segments.evaluate_all("els => els.map(e => [e.dataset.component, Number(e.dataset.value)])")
    )
    by_name = dict(zip(names, values, strict=True))
    assert {n for n, v in by_name.items() if v != 0} <= set(drawn)
    for name, value in drawn.items():
        assert value == pytest.approx(by_name[name], abs=1e-6), name
    # Positive segments right of the zero line, negative ones left of it.
    sides = segments.evaluate_all(
        "els => els.map(e => { const z = e.parentElement.querySelector("
        "'.jp-Transpector-rbars-zero').getBoundingClientRect().x;"
        " const b = e.getBoundingClientRect();"
        " return [Number(e.dataset.value), b.left - z, b.right - z]; })"
    )
    for value, left, right in sides:
        assert (left >= -1.5) if value > 0 else (right <= 1.5), (value, left, right)

    # A click on the largest head's segment selects that head on the graph, in the middle of
    # the pane, even with every layer folded first.
    page.locator(".jp-Transpector-graph-toolbar").get_by_role(
        "button", name="Fold all", exact=True
    ).click()
    heads = [(abs(v), n) for n, v in drawn.items() if re.fullmatch(r"L\d+\.H\d+", n)]
    head = max(heads)[1]
    card.locator(f".jp-Transpector-rbars-seg[data-component='{head}']").click()
    node = page.locator(f".jp-Transpector-node[data-node-id='{head}'][data-selected='true']")
    node.wait_for(timeout=5_000)
    page.wait_for_timeout(800)  # the view's move is animated
    shown_part = page.locator(".react-flow").evaluate(VISIBLE_PART)
    (pane_x, pane_y), (node_x, node_y) = centre(shown_part), centre(node.bounding_box())
    assert abs(node_x - pane_x) <= 4 and abs(node_y - pane_y) <= 4, (node_x, node_y, shown_part)
    selected = card.locator(".jp-Transpector-rbars-seg[data-selected]")
    assert selected.evaluate_all("els => els.map(e => e.dataset.component)") == [head]
    card.scroll_into_view_if_needed()
    screenshot(card, "canvas-residual-bars")

    # An intervention that writes into the stream: the edits get their own bar, before the
    # final biases, with the tool's value.
    cell_json(
        page,
        "session.patch(source='L1.resid_pre', target='L1.resid_pre', "
        "source_prompt='The capital of Greece is')\nprint(1)",
    )
    edits = card.locator(".jp-Transpector-rbars-row[data-bar='edits']")
    edits.wait_for(timeout=30_000)
    names, values, *_ = cell_json(page, READ)
    assert "edits" in names
    wait_until(
        lambda: (
            bars_shown(card)["edits"]["total"]
            == pytest.approx(values[names.index("edits")], abs=1e-5)
        ),
        10,
        "the edits bar",
    )
    keys = list(bars_shown(card))
    assert keys.index("edits") == n_layers + 1
    # Edits have no node: no button to select one, in the bars or the list of the largest.
    assert card.locator("button[data-component='edits']").count() == 0
    assert card.locator(".jp-Transpector-components li[data-component='edits'] button").count() == 0
    screenshot(card, "canvas-residual-bars-edits")

    # The same card in JupyterLab's dark theme (its colours are theme variables).
    palette(page, "Use Theme: JupyterLab Dark")
    page.locator("body[data-jp-theme-light='false']").wait_for(state="attached", timeout=20_000)
    page.wait_for_timeout(500)
    card.scroll_into_view_if_needed()
    screenshot(card, "canvas-residual-bars-dark")
