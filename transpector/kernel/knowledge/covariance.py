"""The second moment ``C = E[k kᵀ]`` of an MLP's keys (its hidden activation, ``hook_post``)
over a dataset: what a rank-one edit leaves alone. Scanned in batches without interventions,
cached on disk by weights, dataset and hook (``scan_cache``: whole or not at all)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from transpector.kernel import dataset_scan, scan_cache
from transpector.kernel.adapter import ModelAdapter
from transpector.kernel.datasets import Dataset
from transpector.kernel.weights_digest import weights_digest
from transpector.protocol.datasets import DatasetSpec

if TYPE_CHECKING:
    from transpector.kernel.session import Session


def key_moment(adapter: ModelAdapter, dataset: Dataset, hook: str) -> dataset_scan.EntrySteps:
    """Steps to ``{"moment": C [d_mlp, d_mlp] float32, "count": tokens}``."""
    key = scan_cache.entry_key(
        "key_moment", weights_digest(adapter.model), dataset.info.digest, hook,
        dataset_scan.batch_size(dataset.info.window),
    )  # fmt: skip
    found = scan_cache.load(key)
    if found is not None:
        return found
    total: torch.Tensor | None = None
    count = 0

    def add(acts: torch.Tensor) -> None:  # [batch, pos, d_mlp]
        nonlocal total, count
        keys = acts.reshape(-1, acts.shape[-1]).double()
        total = keys.T @ keys if total is None else total + keys.T @ keys
        count += int(keys.shape[0])

    yield from dataset_scan.scan(adapter, dataset, hook, add)
    assert total is not None  # a dataset has at least one window
    entry = {"moment": (total / count).float().cpu(), "count": torch.tensor(count)}
    scan_cache.save(key, entry)
    return entry


def keys_dataset(session: Session, spec: DatasetSpec, windows: int) -> Dataset:
    """The dataset ``spec`` cut to its first ``windows`` windows: where a knowledge edit's key
    statistics come from."""
    limit = windows if spec.max_windows is None else min(spec.max_windows, windows)
    return session.dataset_for(spec.model_copy(update={"max_windows": limit}))
