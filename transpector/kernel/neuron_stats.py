"""Per-neuron statistics of one MLP layer over a dataset, gathered batch by batch in fixed
memory: each neuron's top-k windows by its largest activation (value, window, position), the
a histogram of all its activations, and how often it is above zero. Windows are kept by their
index in the dataset (a view reads their tokens from the dataset again), so the memory a scan
holds does not grow with the corpus.

The histogram's bins are the same for every neuron of the layer: ``BINS`` equal bins over the
first batch's range widened by half of it on each side; values outside fall in the ``below``
and ``above`` counts (column 0 and the last column of ``counts``).
"""

from __future__ import annotations

import torch

from transpector.kernel.scan_cache import Entry

TOP_K = 32  # windows kept per neuron; a view shows up to this many
BINS = 256
ROWS_PER_PART = 256  # token positions histogrammed at once


class NeuronStats:
    def __init__(self, d_mlp: int, k: int = TOP_K, bins: int = BINS) -> None:
        self.k, self.bins, self.d_mlp = k, bins, d_mlp
        self.values = torch.empty(0, d_mlp)
        self.windows = torch.empty(0, d_mlp, dtype=torch.long)
        self.positions = torch.empty(0, d_mlp, dtype=torch.long)
        self.edges: torch.Tensor | None = None
        self.counts = torch.zeros(d_mlp * (bins + 2), dtype=torch.long)
        self.positive = torch.zeros(d_mlp, dtype=torch.long)
        self.n_windows = 0

    def add(self, acts: torch.Tensor) -> None:
        """One batch of windows: the layer's activations [batch, window, d_mlp], the windows
        numbered on from those added before."""
        acts = acts.float().cpu()
        batch = acts.shape[0]
        ids = torch.arange(self.n_windows, self.n_windows + batch)
        self.n_windows += batch
        best, at = acts.max(dim=1)  # [batch, d_mlp]
        values = torch.cat([self.values, best])
        windows = torch.cat([self.windows, ids[:, None].expand(batch, self.d_mlp)])
        positions = torch.cat([self.positions, at])
        top = values.topk(min(self.k, len(values)), dim=0)
        self.values = top.values
        self.windows = windows.gather(0, top.indices)
        self.positions = positions.gather(0, top.indices)
        self._histogram(acts.reshape(-1, self.d_mlp))

    def _histogram(self, flat: torch.Tensor) -> None:
        if self.edges is None:
            lo, hi = float(flat.min()), float(flat.max())
            span = max(hi - lo, 1e-6)
            self.edges = torch.linspace(lo - span / 2, hi + span / 2, self.bins + 1)
        offsets = torch.arange(self.d_mlp, dtype=torch.int32) * (self.bins + 2)
        for rows in flat.split(ROWS_PER_PART):  # small temporaries: the peak stays low
            # bucketize: 0 below the first edge, bins + 1 from the last edge on (closed there)
            slot = torch.bucketize(rows, self.edges, right=True, out_int32=True)
            slot = torch.where(rows == self.edges[-1], self.bins, slot)
            slot += offsets
            self.counts += torch.bincount(slot.reshape(-1), minlength=self.counts.numel())
            self.positive += (rows > 0).sum(0)

    def entry(self) -> Entry:
        assert self.edges is not None, "no batch was added"
        return {
            "values": self.values,
            "windows": self.windows,
            "positions": self.positions,
            "edges": self.edges,
            "counts": self.counts.reshape(self.d_mlp, self.bins + 2),
            "positive": self.positive,
            "n_windows": torch.tensor(self.n_windows),
        }
