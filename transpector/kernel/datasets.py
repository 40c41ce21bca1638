"""Datasets cut into windows of tokens (see ``transpector/protocol/datasets.py``), streamed.

A ``Dataset`` is checked when it is made (the window fits the model, a file is UTF-8 and
readable, there is at least one window) by one pass over its texts that hashes them and counts
their tokens; scans then stream its windows in batches, reading the source again, so memory
does not grow with the corpus.
"""

from __future__ import annotations

import codecs
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import torch

from transpector.errors import TranspectorError
from transpector.kernel import corpus
from transpector.kernel.adapter import ModelAdapter, check_text
from transpector.kernel.adapter.scan import plain_ids, window_tokens
from transpector.protocol.datasets import DatasetInfo, DatasetSpec, FileSource, TextsSource

TEXTS_PER_CALL = 16  # texts tokenized together
CHUNK_BYTES = 1 << 20


class Dataset:
    def __init__(self, adapter: ModelAdapter, spec: DatasetSpec) -> None:
        n_ctx = int(adapter.cfg.n_ctx)
        if spec.window > n_ctx:
            raise TranspectorError(
                f"a window of {spec.window} tokens is longer than this model's context of "
                f"{n_ctx}; choose a window of at most {n_ctx}"
            )
        self.adapter = adapter
        self.spec = spec
        self.bos, self.sep = window_tokens(adapter)
        self.body = spec.window - (1 if self.bos is not None else 0)
        self.name = _name(spec)
        digest = hashlib.sha256(f"{spec.window}|{spec.max_windows}|".encode())
        n_tokens = 0
        for i, (text, ids) in enumerate(self._tokenized()):
            digest.update(hashlib.sha256(text.encode("utf-8")).digest())
            n_tokens += len(ids) + (1 if i and self.sep is not None else 0)
        n_windows = n_tokens // self.body
        if spec.max_windows is not None:
            n_windows = min(n_windows, spec.max_windows)
        if n_windows == 0:
            raise TranspectorError(
                f"the dataset ({self.name}) has {n_tokens} tokens, not enough for one window "
                f"of {spec.window}: give more text or a shorter window"
            )
        self.limit = n_windows
        self.info = DatasetInfo(
            name=self.name,
            digest=digest.hexdigest(),
            window=spec.window,
            n_windows=n_windows,
            n_tokens=n_windows * spec.window,
        )

    def batches(self, size: int) -> Iterator[torch.Tensor]:
        """The windows in order, ``size`` at a time: [size, window] (the last batch may be
        smaller)."""
        rows: list[list[int]] = []
        for row in self._windows():
            rows.append(row)
            if len(rows) == size:
                yield torch.tensor(rows, device=self.adapter.cfg.device)
                rows = []
        if rows:
            yield torch.tensor(rows, device=self.adapter.cfg.device)

    def windows_at(self, indices: list[int]) -> torch.Tensor:
        """The windows at ``indices`` [len(indices), window], read from the source again."""
        wanted = set(indices)
        found: dict[int, list[int]] = {}
        for i, row in enumerate(self._windows()):
            if i in wanted:
                found[i] = row
                if len(found) == len(wanted):
                    break
        missing = wanted - set(found)
        if missing:
            raise TranspectorError(
                f"the dataset ({self.name}) no longer has window {min(missing)}: was it changed?"
            )
        return torch.tensor([found[i] for i in indices], device=self.adapter.cfg.device)

    def _windows(self) -> Iterator[list[int]]:
        head = [] if self.bos is None else [self.bos]
        buffer: list[int] = []
        made = 0
        for i, (_, ids) in enumerate(self._tokenized()):
            if i and self.sep is not None:
                buffer.append(self.sep)
            buffer.extend(ids)
            start = 0
            while len(buffer) - start >= self.body:
                yield head + buffer[start : start + self.body]
                start += self.body
                made += 1
                if made == self.limit:
                    return
            del buffer[:start]

    def _tokenized(self) -> Iterator[tuple[str, list[int]]]:
        """Each text with its token ids, tokenized a group at a time."""
        group: list[str] = []
        for text in self._texts():
            group.append(text)
            if len(group) == TEXTS_PER_CALL:
                yield from zip(group, plain_ids(self.adapter, group), strict=True)
                group = []
        if group:
            yield from zip(group, plain_ids(self.adapter, group), strict=True)

    def _texts(self) -> Iterator[str]:
        source = self.spec.source
        if isinstance(source, TextsSource):
            for i, text in enumerate(source.texts):
                check_text(text, f"text {i} of the dataset")
                yield text
        elif isinstance(source, FileSource):
            yield from _file_texts(Path(source.path).expanduser())
        else:
            yield from corpus.default_texts()


def _name(spec: DatasetSpec) -> str:
    source = spec.source
    if isinstance(source, TextsSource):
        return f"{len(source.texts)} texts"
    if isinstance(source, FileSource):
        return source.path
    return corpus.CORPUS_NAME


def _file_texts(path: Path) -> Iterator[str]:
    """A .jsonl file's texts, line by line; any other file as one text. A TranspectorError for
    a missing file, bytes that are not UTF-8, or a line that is not a text."""
    if not path.is_file():
        raise TranspectorError(f"no such file: {path}")
    if path.suffix.lower() != ".jsonl":
        yield _read_utf8(path)
        return
    with path.open("rb") as f:
        for number, raw in enumerate(f, start=1):
            line = _decode(raw, path, f"line {number}")
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except json.JSONDecodeError as error:
                raise TranspectorError(f"{path} line {number} is not JSON: {error.msg}") from None
            text = value.get("text") if isinstance(value, dict) else value
            if not isinstance(text, str):
                raise TranspectorError(
                    f"{path} line {number} is neither a JSON string nor an object with a "
                    "'text' string"
                )
            check_text(text, f"{path} line {number}")
            yield text


def _read_utf8(path: Path) -> str:
    decoder = codecs.getincrementaldecoder("utf-8")()
    parts: list[str] = []
    offset = 0
    with path.open("rb") as f:
        while chunk := f.read(CHUNK_BYTES):
            try:
                parts.append(decoder.decode(chunk))
            except UnicodeDecodeError as error:
                _not_utf8(path, f"byte {offset + error.start}")
            offset += len(chunk)
        try:
            parts.append(decoder.decode(b"", final=True))
        except UnicodeDecodeError:
            _not_utf8(path, "its end (a cut-off character)")
    return "".join(parts)


def _decode(raw: bytes, path: Path, where: str) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as error:
        _not_utf8(path, f"{where}, byte {error.start}")
        raise  # not reached


def _not_utf8(path: Path, where: str) -> None:
    raise TranspectorError(
        f"{path} is not UTF-8 text (at {where}); convert it, e.g. with iconv -t UTF-8"
    )
