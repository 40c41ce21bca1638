"""The session's dataset, for cells: ``session.set_dataset(...)``, ``session.dataset`` and
``session.clear_dataset_cache()``. Tools that scan a dataset take one in their arguments or
use the session's (the embedded default corpus in windows of 64 tokens until one is set).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

from pydantic import ValidationError

from transpector.errors import TranspectorError, first_error
from transpector.kernel import scan_cache
from transpector.kernel.adapter.scan import window_text
from transpector.kernel.datasets import Dataset
from transpector.protocol.datasets import (
    DatasetInfo,
    DatasetSpec,
    DefaultSource,
    FileSource,
    TextsSource,
)

if TYPE_CHECKING:
    from transpector.kernel.adapter import ModelAdapter

DATASETS_KEPT = 4


class DatasetMethods:
    """Mixed into Session, which provides the model's adapter."""

    _adapter: ModelAdapter
    reference_prompts: list[str]
    _dataset_spec: DatasetSpec | None = None
    _datasets: dict[str, Dataset] | None = None

    @property
    def dataset(self) -> DatasetInfo:
        """The session's dataset: its name, digest, window and size."""
        return self.dataset_for(None).info

    def set_dataset(
        self,
        texts: Sequence[str] | DatasetSpec | None = None,
        *,
        path: str | os.PathLike[str] | None = None,
        window: int = 64,
        max_windows: int | None = None,
    ) -> DatasetInfo:
        """Use ``texts`` (a list from a cell, or a ``DatasetSpec``), the file at ``path``
        (text, or JSONL with a string or {"text": ...} a line) or, with neither, the embedded
        default corpus, cut into windows of ``window`` tokens. A TranspectorError, and no
        change, when the window is longer than the model's context, the file is not UTF-8 or
        there is no whole window."""
        if isinstance(texts, DatasetSpec):  # a spec as tools take it
            given = self.dataset_for(texts)
            self._dataset_spec = given.spec
            return given.info
        if texts is not None and path is not None:
            raise TranspectorError("give texts or path, not both")
        if isinstance(texts, str):
            raise TranspectorError("texts is a list of strings; wrap a single text in [...]")
        source: TextsSource | FileSource | DefaultSource
        try:
            if texts is not None:
                source = TextsSource(texts=list(texts))
            elif path is not None:
                source = FileSource(path=os.fspath(path))
            else:
                source = DefaultSource()
            spec = DatasetSpec(source=source, window=window, max_windows=max_windows)
        except ValidationError as error:
            raise TranspectorError(f"set_dataset: {first_error(error)}") from None
        dataset = self.dataset_for(spec)
        self._dataset_spec = spec
        return dataset.info

    @property
    def dataset_spec(self) -> DatasetSpec:
        """The spec of the session's dataset (the default corpus until one is set)."""
        return self._dataset_spec or DatasetSpec()

    def dataset_for(self, spec: DatasetSpec | None) -> Dataset:
        """The dataset ``spec`` (None: the session's), checked and counted once while kept."""
        spec = spec or self.dataset_spec
        if self._datasets is None:
            self._datasets = {}
        key = repr(spec)
        if key not in self._datasets or isinstance(spec.source, FileSource):
            dataset = Dataset(self._adapter, spec)  # a file is read again: it may have changed
            self._datasets.pop(key, None)
            self._datasets[key] = dataset
            while len(self._datasets) > DATASETS_KEPT:
                del self._datasets[next(iter(self._datasets))]
        return self._datasets[key]

    def references_from_dataset(self, n: int = 32) -> list[str]:
        """Make the reference prompts (the baseline of mean and resample ablation) ``n`` windows
        of the session's dataset, spread evenly over it, as text; one versioned change, as
        setting ``session.reference_prompts``. Returns them."""
        dataset = self.dataset_for(None)
        total = dataset.info.n_windows
        if not 1 <= n <= total:
            raise TranspectorError(f"n must be 1 to {total}, the dataset's windows; not {n}")
        picked = sorted({i * total // n for i in range(n)})
        rows = dataset.windows_at(picked).tolist()
        texts = [window_text(self._adapter, row) for row in rows]
        self.reference_prompts = texts
        return texts

    def clear_dataset_cache(self) -> int:
        """Remove every cached dataset scan from disk; the bytes freed."""
        return scan_cache.clear()
