"""Training a sparse autoencoder on a dataset's activations at one hook, in steps (progress
between batches; a cancel thrown in at a step leaves nothing behind).

The activations come from the dataset scan (``dataset_scan.scan``: batched forwards without
interventions, each stopped at the hook). A window's first token is left out when it is the
BOS token every window starts with (its activation is an outlier the model uses as a sink). The
dataset's last ``heldout`` share of windows is held out: never trained on, it gives the FVU and
L0 of the report. Inputs are scaled so their mean squared norm is ``d_in`` while training (one
learning rate fits every hook); the scale is folded into the weights at the end, so the saved
autoencoder reads raw activations. Adam, decoder rows renormalised to unit norm after every
step; topk minimises the squared error, standard adds ``l1`` times the latents' L1 norm.
"""

from __future__ import annotations

import math
import time
from collections.abc import Generator
from dataclasses import dataclass

import torch

from transpector.errors import TranspectorError
from transpector.kernel import dataset_scan
from transpector.kernel.adapter import ModelAdapter
from transpector.kernel.adapter.scan import window_tokens
from transpector.kernel.datasets import Dataset
from transpector.kernel.sae.model import SparseAutoencoder
from transpector.kernel.tools.base import Step
from transpector.protocol.sae import Architecture, SaeReport

EVAL_ROWS = 4096  # tokens encoded at once when measuring


@dataclass(frozen=True)
class TrainSettings:
    latents: int
    k: int | None = 32
    architecture: Architecture = "topk"
    l1: float = 5.0  # standard only, on inputs scaled to mean squared norm d_in
    epochs: int = 3
    lr: float = 1e-3
    batch_tokens: int = 1024
    heldout: float = 0.1
    seed: int = 0


def train_steps(
    adapter: ModelAdapter, dataset: Dataset, hook: str, settings: TrainSettings
) -> Generator[Step, None, SparseAutoencoder]:
    chunks: list[torch.Tensor] = []
    start = time.perf_counter()
    n_windows = yield from dataset_scan.scan(
        adapter, dataset, hook, lambda acts: chunks.append(acts.float().cpu())
    )
    scan_seconds = time.perf_counter() - start
    acts = torch.cat(chunks)  # [windows, window, d_in]
    chunks.clear()
    if acts.ndim != 3:
        raise TranspectorError(
            f"{hook} has {list(acts.shape[2:])} per token; an autoencoder reads one vector per "
            "token (a hook like blocks.0.hook_resid_post or blocks.0.hook_mlp_out)"
        )
    n_held = max(1, round(n_windows * settings.heldout))
    if n_windows - n_held < 1:
        raise TranspectorError(
            f"the dataset has {n_windows} windows: training needs at least 2 (one held out)"
        )
    first = 1 if window_tokens(adapter)[0] is not None and acts.shape[1] > 1 else 0
    train = acts[:-n_held, first:].reshape(-1, acts.shape[-1])
    held = acts[-n_held:, first:].reshape(-1, acts.shape[-1])
    sae = SparseAutoencoder(
        int(acts.shape[-1]), settings.latents, settings.architecture,
        settings.k if settings.architecture == "topk" else None, hook,
    )  # fmt: skip
    scale = math.sqrt(sae.d_in / float(train.pow(2).sum(-1).mean().clamp_min(1e-12)))
    train_start = time.perf_counter()
    yield from _optimise(sae, train * scale, settings)
    train_seconds = time.perf_counter() - train_start
    _fold(sae, scale)
    fvu, l0 = measure(sae, held)
    sae.metadata.update(context_size=dataset.info.window, dataset_path=dataset.name,
                        prepend_bos=first == 1)  # fmt: skip
    sae.report = SaeReport(
        hook=hook, architecture=sae.architecture, d_in=sae.d_in, d_sae=sae.d_sae, k=sae.k,
        dataset=dataset.name, train_tokens=len(train), heldout_tokens=len(held),
        epochs=settings.epochs, fvu=fvu, l0=l0, dead_latents=dead_latents(sae, acts[:, first:]),
        scan_seconds=scan_seconds, train_seconds=train_seconds,
        tokens_per_s=len(train) * settings.epochs / max(train_seconds, 1e-9),
    )  # fmt: skip
    return sae


def _optimise(
    sae: SparseAutoencoder, train: torch.Tensor, settings: TrainSettings
) -> Generator[Step, None, None]:
    generator = torch.Generator().manual_seed(settings.seed)
    with torch.no_grad():
        w_dec = torch.randn(sae.d_sae, sae.d_in, generator=generator)
        sae.W_dec.copy_(w_dec / w_dec.norm(dim=-1, keepdim=True))
        sae.W_enc.copy_(sae.W_dec.T)
        sae.b_dec.copy_(train.mean(0))
    optimiser = torch.optim.Adam(sae.parameters(), lr=settings.lr)
    per_epoch = -(-len(train) // settings.batch_tokens)
    total = per_epoch * settings.epochs
    label = f"training {sae.d_sae} latents"
    yield Step(0, total, label)
    for epoch in range(settings.epochs):
        order = torch.randperm(len(train), generator=generator)
        for i, rows in enumerate(order.split(settings.batch_tokens)):
            x = train[rows]
            latents = sae.encode(x)
            loss = (sae.decode(latents) - x).pow(2).sum(-1).mean()
            if sae.architecture == "standard":
                loss = loss + settings.l1 * latents.sum(-1).mean()
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            with torch.no_grad():
                sae.W_dec /= sae.W_dec.norm(dim=-1, keepdim=True).clamp_min(1e-8)
            yield Step(epoch * per_epoch + i + 1, total, label)


def _fold(sae: SparseAutoencoder, scale: float) -> None:
    """Trained on ``x * scale``: the same autoencoder on raw ``x``."""
    with torch.no_grad():
        sae.W_enc *= scale
        sae.W_dec /= scale
        sae.b_dec /= scale


def measure(sae: SparseAutoencoder, x: torch.Tensor) -> tuple[float, float]:
    """(FVU, L0) of ``sae`` on activations ``x`` [tokens, d_in]: the squared error over the
    squared deviation from the mean of ``x``, and the mean active latents per token."""
    error = active = 0.0
    with torch.no_grad():
        for rows in x.split(EVAL_ROWS):
            latents = sae.encode(rows)
            error += float((sae.decode(latents) - rows).double().pow(2).sum())
            active += float((latents > 0).sum())
        variance = float((x.double() - x.double().mean(0)).pow(2).sum())
    return error / max(variance, 1e-30), active / max(len(x), 1)


def dead_latents(sae: SparseAutoencoder, acts: torch.Tensor) -> int:
    """Latents active on no token of ``acts`` [..., d_in]."""
    fired = torch.zeros(sae.d_sae, dtype=torch.bool)
    with torch.no_grad():
        for rows in acts.reshape(-1, sae.d_in).split(EVAL_ROWS):
            fired |= (sae.encode(rows) > 0).any(0)
    return int((~fired).sum())
