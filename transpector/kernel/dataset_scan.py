"""Scans over a dataset: batches of windows through the model without interventions, each
forward stopped at the hook it reads, with progress steps between batches (a cancel thrown in
there finds no hook on the model) and the result cached on disk (``scan_cache``).
"""

from __future__ import annotations

from collections.abc import Callable, Generator

import torch

from transpector.kernel import scan_cache
from transpector.kernel.adapter import ModelAdapter
from transpector.kernel.adapter.scan import capture_until
from transpector.kernel.datasets import Dataset
from transpector.kernel.neuron_stats import BINS, TOP_K, NeuronStats
from transpector.kernel.tools.base import Step
from transpector.kernel.weights_digest import weights_digest

TOKENS_PER_BATCH = 2048

EntrySteps = Generator[Step, None, scan_cache.Entry]


def scan(
    adapter: ModelAdapter, dataset: Dataset, hook: str, add: Callable[[torch.Tensor], None]
) -> Generator[Step, None, int]:
    """Steps of one pass over ``dataset``: each batch's activation at ``hook`` [batch, window,
    ...] is given to ``add``, then a step says how many windows are done. Returns that count."""
    total = dataset.info.n_windows
    label = f"{hook} over {dataset.name}"
    done = 0
    yield Step(0, total, label)
    for tokens in dataset.batches(batch_size(dataset.info.window)):
        add(capture_until(adapter, tokens, hook))
        done += int(tokens.shape[0])
        yield Step(done, total, label)
    return done


def batch_size(window: int) -> int:
    return max(1, TOKENS_PER_BATCH // window)


def neuron_stats_key(adapter: ModelAdapter, dataset: Dataset, hook: str) -> str:
    tokenizer = adapter.model.tokenizer
    return scan_cache.entry_key(
        "neuron_stats", weights_digest(adapter.model), len(tokenizer), dataset.info.digest,
        hook, TOP_K, BINS, batch_size(dataset.info.window),
    )  # fmt: skip


def neuron_stats(
    adapter: ModelAdapter,
    dataset: Dataset,
    hook: str,
    read: Callable[[torch.Tensor], torch.Tensor] | None = None,
    read_key: str = "",
) -> EntrySteps:
    """Steps to the statistics of every neuron at ``hook`` (an MLP's hidden activation [batch,
    pos, d_mlp]) over ``dataset``: from the cache, else scanned and then cached. With ``read``
    (named by ``read_key`` in the cache key), the statistics of ``read(activation)`` instead:
    an autoencoder's latents, say."""
    key = neuron_stats_key(adapter, dataset, hook)
    if read_key:
        key = scan_cache.entry_key(key, read_key)
    found = scan_cache.load(key)
    if found is not None:
        return found
    stats: NeuronStats | None = None

    def add(acts: torch.Tensor) -> None:
        nonlocal stats
        if stats is None:
            stats = NeuronStats(int(acts.shape[-1]))
        stats.add(acts)

    def add_read(acts: torch.Tensor) -> None:
        add(acts if read is None else read(acts))

    yield from scan(adapter, dataset, hook, add_read)
    assert stats is not None  # a dataset has at least one window
    entry = stats.entry()
    scan_cache.save(key, entry)
    return entry
