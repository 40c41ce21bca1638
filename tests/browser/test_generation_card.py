"""The Generation card in a real browser, on the tiny Llama: a mean-difference steering vector
added from the card's form, clean and steered text generated with one seed and compared with
the same generation from a cell, then a long generation stopped mid-way; on SmolLM2, the steered
review turns sour on the card as in the cell (the README's picture)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from playwright.sync_api import Page

from tests.browser.canvas_helpers import cell_json, open_canvas, run_starter
from tests.browser.conftest import Lab, screenshot
from tests.kernel.test_steering_default_model import HAPPY, PROMPT, SOUR

pytestmark = [pytest.mark.browser]
IMAGES = Path(__file__).resolve().parents[2] / "docs" / "images"


def test_generation_card(tiny_lab: Lab, page: Page) -> None:
    run_starter(tiny_lab, page, timeout=120_000)
    open_canvas(page)
    card = page.locator(".jp-Transpector-generation")
    card.scroll_into_view_if_needed()
    card.get_by_label("Steer node").fill("L1.resid_pre")
    card.get_by_label("Steer scale").fill("8")
    card.get_by_label("Toward prompts").fill("I love it\nso good")
    card.get_by_label("Away prompts").fill("I hate it\nso bad")
    card.get_by_role("button", name="Add steering").click()
    card.locator("h3", has_text="the 1 intervention").wait_for(timeout=30_000)
    spec = cell_json(page, "print(json.dumps(session.interventions[0].model_dump()))")
    assert spec["kind"] == "steer" and spec["scale"] == 8 and spec["node"] == "L1.resid_pre"
    assert spec["source"] == {
        "kind": "mean_diff",
        "positive": ["I love it", "so good"],
        "negative": ["I hate it", "so bad"],
    }

    card.get_by_label("Max new tokens").fill("8")
    card.get_by_label("Temperature").fill("0.9")
    card.get_by_label("Seed").fill("5")
    card.get_by_role("button", name="Generate").click()
    clean = card.locator("pre[data-column='clean'][data-done='true']")
    steered = card.locator("pre[data-column='steered'][data-done='true']")
    steered.wait_for(timeout=60_000)
    expected = cell_json(
        page,
        "kw = dict(max_new_tokens=8, temperature=0.9, seed=5, progress=False)\n"
        "print(json.dumps([session.generate_text(interventions=False, **kw).text,"
        " session.generate_text(**kw).text]))",
    )
    assert [clean.text_content(), steered.text_content()] == expected
    assert expected[0] != expected[1]
    screenshot(card, "canvas-generation-tiny")

    card.get_by_label("Max new tokens").fill("90")
    card.get_by_role("button", name="Generate").click()
    card.get_by_role("button", name="Stop").click()  # waits until the first token enables it
    stopped = card.locator("figcaption", has_text="cancelled").first
    stopped.wait_for(timeout=60_000)
    # Under load the clean column can finish before the click lands: the steered one stops then.
    column = "steered" if stopped.inner_text().startswith("steered") else "clean"
    shown = card.locator(f"pre[data-column='{column}']").text_content()
    prefixes = cell_json(
        page,
        "g = session.generate_text(max_new_tokens=90, temperature=0.9, seed=5, progress=False,"
        f" interventions={column == 'steered'})\n"
        "print(json.dumps([model.tokenizer.decode(g.token_ids[:n]) for n in range(91)]))",
    )
    fewest = 1 if column == "clean" else 0  # Stop is enabled by the clean column's first token
    assert shown in prefixes[fewest:90], json.dumps(shown)  # not all of them
    assert card.get_by_role("button", name="Generate").is_enabled()


def test_generation_card_on_smollm2(lab: Lab, page: Page) -> None:
    run_starter(lab, page)
    open_canvas(page)
    card = page.locator(".jp-Transpector-generation")
    card.scroll_into_view_if_needed()
    card.get_by_label("Steer node").fill("L10.resid_pre")
    card.get_by_label("Steer scale").fill("4")
    card.get_by_label("Toward prompts").fill("\n".join(SOUR))
    card.get_by_label("Away prompts").fill("\n".join(HAPPY))
    card.get_by_role("button", name="Add steering").click()
    card.locator("h3", has_text="the 1 intervention").wait_for(timeout=60_000)
    card.get_by_label("Generation prompt").fill(PROMPT)
    card.get_by_label("Max new tokens").fill("12")
    card.get_by_role("button", name="Generate").click()
    clean = card.locator("pre[data-column='clean'][data-done='true']")
    steered = card.locator("pre[data-column='steered'][data-done='true']")
    steered.wait_for(timeout=120_000)
    expected = cell_json(
        page,
        f"kw = dict(text={PROMPT!r}, max_new_tokens=12, progress=False)\n"
        "print(json.dumps([session.generate_text(interventions=False, **kw).text,"
        " session.generate_text(**kw).text]))",
    )
    assert [clean.text_content(), steered.text_content()] == expected
    assert "great" in expected[0] and "nightmare" in expected[1]
    page.set_viewport_size({"width": 1440, "height": 2400})
    card.scroll_into_view_if_needed()
    path = screenshot(card, "canvas-generation")
    shutil.copy(path, IMAGES / "canvas-generation.png")
