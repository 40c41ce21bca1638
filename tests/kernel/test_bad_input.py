"""Bad input from a cell: one plain sentence that says what to change, and the state unchanged."""

from __future__ import annotations

from typing import Any

import pytest

from transpector.errors import TranspectorError
from transpector.kernel.session import Session

BAD: list[tuple[str, Any, str]] = [
    ("lone surrogate", lambda s: setattr(s, "prompt", "bad \ud800 text"), "lone surrogate"),
    ("surrogate reference", lambda s: setattr(s, "reference_prompts", ["a \udfff"]), "surrogate"),
    ("surrogate source", lambda s: s.patch("L0.H1", "L0.H2", "\ud800" * 11), "surrogate"),
    ("surrogate note", lambda s: s.set_note("L0.H1", "note \ud800"), "the note has a lone"),
    ("100k characters", lambda s: setattr(s, "prompt", "x" * 100_000), "takes at most 64"),
    ("23-digit position", lambda s: s.ablate("L0.H1", positions=[10**22]), "out of range"),
    ("23-digit seed", lambda s: s.ablate("L0.H1", seed=10**22), "ablate: seed: Input should"),
    ("23-digit lens cell", lambda s: s.lens_top_k("L0.resid_pre", 10**22), "less than or equal"),
    ("23-digit prompt index", lambda s: s.select_prompt(10**22), "no prompt"),
]


@pytest.mark.parametrize(("what", "change", "needle"), BAD, ids=[b[0] for b in BAD])
def test_bad_input_is_one_plain_sentence(
    session: Session, what: str, change: Any, needle: str
) -> None:
    before = session.state.model_dump()
    with pytest.raises(TranspectorError, match=needle) as caught:
        change(session)
    message = str(caught.value)
    assert "\n" not in message and "TypeError" not in message and "pydantic" not in message
    assert session.state.model_dump() == before
    session.run()  # the session still runs


def test_nul_bytes_are_text_like_any_other(session: Session) -> None:
    session.prompt = "nul \x00 byte"
    assert session.run().tokens[-6:] == list("\x00 byte")
