"""Tokens that are only part of a UTF-8 character, in a real browser: `transpector lab` on the
tiny byte-level model, where every byte of an emoji or a zero-width space is a token of its own."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page

from tests.browser.canvas_helpers import CANVAS, open_canvas, run_starter, tokens, wait_until
from tests.browser.conftest import Lab, screenshot

pytestmark = [pytest.mark.browser]

PROMPT = "a🙂\u200bb"
BYTES = ["<0xF0>", "<0x9F>", "<0x99>", "<0x82>", "<0xE2>", "<0x80>", "<0x8B>"]


def chip_texts(page: Page) -> list[str]:
    return list(
        page.eval_on_selector_all(
            f"{CANVAS} .jp-Transpector-token .jp-Transpector-token-text",
            "els => els.map(e => e.textContent)",
        )
    )


def test_partial_characters_show_their_bytes(tiny_lab: Lab, page: Page) -> None:
    run_starter(tiny_lab, page, timeout=120_000)
    open_canvas(page)
    box = page.locator(".jp-Transpector-prompt")
    box.click()
    box.press("Control+a")
    box.press_sequentially(PROMPT, delay=15)
    assert box.input_value() == PROMPT
    wait_until(lambda: tokens(page)[-1:] == ["b"], 10, "tokens of the prompt")
    assert tokens(page)[-9:] == ["a", *BYTES, "b"]
    assert chip_texts(page)[-9:] == ["a", *BYTES, "b"]
    assert not any("\ufffd" in text for text in chip_texts(page))
    # The chip's tooltip says what its bytes are.
    title = page.locator(".jp-Transpector-token[data-token='<0xF0>']").get_attribute("title")
    assert title is not None and "part of a UTF-8 character" in title
    screenshot(page.locator(".jp-Transpector-tokenbar"), "token-bytes-chips")
