"""Token texts: a token that is only part of a UTF-8 character shows its raw bytes as <0x..>."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from transpector.kernel.adapter import ModelAdapter
from transpector.kernel.adapter.tokens import TokenTexts, byte_level_table, show_bytes

PROMPT = "Hi 🙂 a\u200bb שלום 東京 café"
ESCAPE = re.compile(r"<0x([0-9A-F]{2})>")


def shown_bytes(texts: list[str]) -> bytes:
    """The bytes the shown texts stand for: each <0x..> one byte, any other text as UTF-8."""
    out = bytearray()
    for text in texts:
        for i, part in enumerate(ESCAPE.split(text)):
            out += bytes([int(part, 16)]) if i % 2 else part.encode("utf-8")
    return bytes(out)


def test_show_bytes_writes_each_byte_that_is_not_complete_utf8_as_hex() -> None:
    assert show_bytes("ל".encode()) == "ל"
    assert show_bytes(b" \xf0\x9f") == " <0xF0><0x9F>"
    assert show_bytes(b"\x99\x82 ok") == "<0x99><0x82> ok"
    assert show_bytes(b"a\xe2\x80") == "a<0xE2><0x80>"
    assert show_bytes(b"\xd7\xa9\xd7") == "ש<0xD7>"


def test_byte_level_table_is_the_byte_level_alphabet() -> None:
    from tokenizers import pre_tokenizers

    table = byte_level_table()
    assert sorted(table) == sorted(pre_tokenizers.ByteLevel.alphabet())
    assert sorted(table.values()) == list(range(256))
    assert table["Ġ"] == ord(" ") and table["a"] == ord("a")


def test_tiny_byte_level_model_shows_bytes_of_partial_characters(tiny_model: Any) -> None:
    adapter = ModelAdapter(tiny_model)
    ids = adapter.to_tokens("a🙂\u200bb", n_ctx=64)[0]
    expected = ["a", "<0xF0>", "<0x9F>", "<0x99>", "<0x82>", "<0xE2>", "<0x80>", "<0x8B>", "b"]
    assert adapter.str_tokens(ids) == ["<|endoftext|>", *expected]
    assert adapter.decode(ids.tolist()[1:]) == expected


def test_tiny_byte_level_texts_stand_for_the_prompts_bytes(tiny_model: Any) -> None:
    adapter = ModelAdapter(tiny_model)
    ids = tiny_model.tokenizer.encode(PROMPT, add_special_tokens=False)
    assert shown_bytes(adapter.decode(ids)) == PROMPT.encode("utf-8")


def test_complete_tokens_decode_as_the_tokenizer_does(tiny_model: Any) -> None:
    adapter = ModelAdapter(tiny_model)
    ids = adapter.to_tokens("Hello, world!", n_ctx=64)[0]
    assert adapter.str_tokens(ids) == tiny_model.to_str_tokens(ids)


def byte_fallback_tokenizer(folder: Path) -> Any:
    """A SentencePiece-style BPE: ▁ for spaces, byte fallback <0x00>..<0xFF>, a few pieces."""
    from tokenizers import Tokenizer, decoders, models, normalizers
    from transformers import PreTrainedTokenizerFast

    pieces = ["<unk>", *(f"<0x{b:02X}>" for b in range(256)), "▁", "a", "b", "▁a", "é"]
    core = Tokenizer(
        models.BPE(vocab={p: i for i, p in enumerate(pieces)}, merges=[], byte_fallback=True)
    )
    core.normalizer = normalizers.Replace(" ", "▁")
    core.decoder = decoders.Sequence(
        [decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse()]
    )
    PreTrainedTokenizerFast(tokenizer_object=core, unk_token="<unk>").save_pretrained(folder)
    return PreTrainedTokenizerFast.from_pretrained(folder)


def word_level_tokenizer(folder: Path) -> Any:
    """Neither byte-level nor byte fallback: whole words."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    core = Tokenizer(models.WordLevel(vocab={"[UNK]": 0, "hi": 1, "🙂": 2}, unk_token="[UNK]"))
    core.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    PreTrainedTokenizerFast(tokenizer_object=core, unk_token="[UNK]").save_pretrained(folder)
    return PreTrainedTokenizerFast.from_pretrained(folder)


def test_byte_fallback_tokens_show_their_byte(tmp_path: Path) -> None:
    tokenizer = byte_fallback_tokenizer(tmp_path)
    texts = TokenTexts(tokenizer)
    ids = tokenizer.encode("a 🙂é", add_special_tokens=False)
    assert tokenizer.convert_ids_to_tokens(ids)[2:6] == ["<0xF0>", "<0x9F>", "<0x99>", "<0x82>"]
    shown = [texts.partial(i) for i in ids]
    assert shown == [None, None, "<0xF0>", "<0x9F>", "<0x99>", "<0x82>", None]
    (a,) = tokenizer.encode("A", add_special_tokens=False)  # <0x41>: a whole character
    assert texts.partial(a) is None
    assert texts.raw(ids[2]) == b"\xf0"


def test_other_tokenizers_keep_their_own_decoding(tmp_path: Path) -> None:
    tokenizer = word_level_tokenizer(tmp_path)
    texts = TokenTexts(tokenizer)
    assert [texts.partial(i) for i in range(3)] == [None, None, None]
    assert texts.raw(2) is None


@pytest.mark.default_model
def test_smollm2_texts_stand_for_the_prompts_bytes(default_model: Any) -> None:
    """On the real byte-level BPE: the shown texts spell out the prompt's UTF-8 bytes exactly,
    and a token with complete characters decodes as the tokenizer decodes it."""
    adapter = ModelAdapter(default_model)
    tokenizer = default_model.tokenizer
    ids = tokenizer.encode(PROMPT, add_special_tokens=False)
    shown = adapter.decode(ids)
    assert shown_bytes(shown) == PROMPT.encode("utf-8")
    plain = tokenizer.batch_decode([[i] for i in ids])
    for text, before in zip(shown, plain, strict=True):
        if ESCAPE.search(text):
            assert "\ufffd" in before  # these were the "�" chips
        else:
            assert text == before
    assert any(ESCAPE.search(text) for text in shown)  # the emoji, the Hebrew, the ZWSP split
