"""Datasets: texts that runs scan in windows of a fixed number of tokens.

A source is a list of texts (from a cell), a text or JSONL file (one JSON string, or an object
with a ``text`` field, per line), or the embedded default corpus. The texts are tokenized in
order without special tokens, joined with the end-of-text token between them, and cut into
windows of ``window`` tokens; each window starts with the beginning-of-sequence token when the
model prepends one, so a window holds ``window - 1`` corpus tokens. A last part shorter than a
window is left out.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

MAX_TEXTS = 100_000


class TextsSource(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["texts"] = "texts"
    texts: list[str] = Field(max_length=MAX_TEXTS, description="The texts, in order")


class FileSource(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["file"] = "file"
    path: str = Field(
        min_length=1,
        max_length=4096,
        description="A UTF-8 text file (one text), or .jsonl: a JSON string or {text: ...} a line",
    )


class DefaultSource(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["default"] = "default"


Source = Annotated[TextsSource | FileSource | DefaultSource, Field(discriminator="kind")]


class DatasetSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    source: Source = Field(default_factory=DefaultSource)
    window: int = Field(default=64, ge=2, le=1_000_000, description="Tokens per window")
    max_windows: int | None = Field(
        default=None, ge=1, le=100_000_000, description="Use at most this many windows"
    )


class DatasetInfo(BaseModel):
    """A dataset as the model's tokenizer cuts it."""

    name: str = Field(description="The texts' source: 'texts', a file path, or the corpus name")
    digest: str = Field(description="sha256 of the source's texts, the window and the limit")
    window: int
    n_windows: int
    n_tokens: int = Field(description="n_windows * window")
