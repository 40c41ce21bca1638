"""Token texts that say what a token is when it is only part of a UTF-8 character.

Byte-level BPE (GPT-2, SmolLM2) cuts an emoji or a Hebrew letter into tokens of one or two of its
bytes; decoded on its own such a token is "\N{REPLACEMENT CHARACTER}". Here its raw bytes are
worked out from the tokenizer itself (the GPT-2 bytes-to-unicode table, inverted, applied to the
token's string; a SentencePiece byte-fallback token ``<0xF0>`` is its byte) and the token is
shown as its valid text plus each stray byte as ``<0xF0>``, the way SentencePiece writes bytes.
"""

from __future__ import annotations

import json
import re
from functools import cache
from typing import Any, Literal

Kind = Literal["byte_level", "byte_fallback"]
BYTE_PIECE = re.compile(r"<0x([0-9A-Fa-f]{2})>")


@cache
def byte_level_table() -> dict[str, int]:
    """The inverse of GPT-2's bytes-to-unicode table: each printable stand-in to its byte."""
    printable = [*range(ord("!"), ord("~") + 1), *range(0xA1, 0xAC + 1), *range(0xAE, 0xFF + 1)]
    table = {chr(b): b for b in printable}
    spare = 0
    for b in range(256):
        if b not in printable:
            table[chr(256 + spare)] = b
            spare += 1
    return table


def show_bytes(data: bytes) -> str:
    """``data`` as text, each byte that is not part of a complete UTF-8 character as <0xXX>."""
    out: list[str] = []
    while data:
        try:
            out.append(data.decode("utf-8"))
            break
        except UnicodeDecodeError as error:
            out.append(data[: error.start].decode("utf-8"))
            out.extend(f"<0x{b:02X}>" for b in data[error.start : error.end])
            data = data[error.end :]
    return "".join(out)


class TokenTexts:
    """The raw bytes of a tokenizer's tokens, and the text of those that are partial UTF-8."""

    def __init__(self, tokenizer: Any) -> None:
        self._tokenizer = tokenizer
        self._kind = kind_of(tokenizer)
        self._partial: dict[int, str | None] = {}

    def raw(self, token_id: int) -> bytes | None:
        """The token's bytes, or None when the tokenizer does not say them."""
        if self._kind is None:
            return None
        piece = str(self._tokenizer.convert_ids_to_tokens(int(token_id)))
        if self._kind == "byte_fallback":
            match = BYTE_PIECE.fullmatch(piece)
            return bytes([int(match.group(1), 16)]) if match else None
        table = byte_level_table()
        if not all(ch in table for ch in piece):  # an added token written as plain text
            return None
        return bytes(table[ch] for ch in piece)

    def partial(self, token_id: int) -> str | None:
        """The shown text of a token whose bytes are not complete UTF-8; None for any other
        (it decodes as the tokenizer decodes it)."""
        if token_id not in self._partial:
            data = self.raw(token_id)
            self._partial[token_id] = None if data is None or _is_utf8(data) else show_bytes(data)
        return self._partial[token_id]

    def shown(self, ids: list[int], decoded: list[str]) -> list[str]:
        """``decoded`` (the tokenizer's text of each id), with partial tokens as their bytes."""
        return [self.partial(i) or text for i, text in zip(ids, decoded, strict=True)]


def kind_of(tokenizer: Any) -> Kind | None:
    """How the tokenizer stores bytes: byte-level BPE, SentencePiece byte fallback, or neither."""
    if isinstance(getattr(tokenizer, "byte_decoder", None), dict):  # slow GPT-2 tokenizer
        return "byte_level"
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:
        return "byte_fallback" if hasattr(tokenizer, "sp_model") else None
    decoder = _types(json.loads(backend.decoder.__getstate__())) if backend.decoder else set()
    if "ByteLevel" in decoder:
        return "byte_level"
    if "ByteFallback" in decoder or getattr(backend.model, "byte_fallback", False):
        return "byte_fallback"
    return None


def _types(spec: Any) -> set[str]:
    """Every ``type`` in a tokenizers component's JSON (a Sequence nests its parts)."""
    if isinstance(spec, dict):
        return {str(spec.get("type", ""))} | {t for v in spec.values() for t in _types(v)}
    if isinstance(spec, list):
        return {t for v in spec for t in _types(v)}
    return set()


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True
