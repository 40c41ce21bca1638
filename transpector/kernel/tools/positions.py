"""``qk_positions`` as a long tool: each head's attention by relative offset, from W_pos or
measured on random tokens (what each method computes: ``transpector/protocol/positions.py``).

Both methods reduce a pattern [..., query, key] to per-offset sums at once (``offset_sums``), so
no pattern outlives its layer. Profiles are kept in the weight analyses' cache
(``tools/weights.py``: ``cached`` / ``keep``), keyed by the method's arguments and the weights
version, plus the hooks on the model for a measured profile (its forward runs them).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from transpector.errors import TranspectorError
from transpector.kernel.adapter.positions import (
    attention_scale,
    bos_token,
    learned_positions,
    positional_rows,
    query_key_biases,
    with_patterns,
)
from transpector.kernel.adapter.weights import head_weights, weights_dtype
from transpector.kernel.tools.base import Step, Steps, Tool
from transpector.kernel.tools.weights import TensorSteps, cached, keep
from transpector.protocol import positions as p
from transpector.protocol import tools as contracts

if TYPE_CHECKING:
    from transpector.kernel.adapter import ModelAdapter
    from transpector.kernel.session import Session

SAMPLES_PER_FORWARD = 4  # random sequences per forward, fewer when they would pass BATCH_BYTES
BATCH_BYTES = 2**27  # a forward's logits and one layer's patterns, about


def offset_sums(pattern: torch.Tensor) -> torch.Tensor:
    """[..., n, n] (query, key) to [..., n + 1]: the sum over queries q >= d of ``A[q, q - d]``
    for each offset d, then the sum over queries 1..n-1 of ``A[q, 0]`` (the first position)."""
    n = pattern.shape[-1]
    key = torch.arange(n)[:, None] - torch.arange(n)[None, :]  # [query, offset]: q - d
    index = key.clamp(min=0).to(pattern.device).expand(*pattern.shape[:-2], n, n)
    by_offset = (pattern.gather(-1, index) * (key >= 0).to(pattern)).sum(-2)
    return torch.cat([by_offset, pattern[..., 1:, 0].sum(-1, keepdim=True)], -1)


def as_means(sums: torch.Tensor, n: int, samples: int) -> torch.Tensor:
    """Offset sums [..., n + 1] over ``samples`` patterns to means (queries per offset: n - d)."""
    per = torch.cat([torch.arange(n, 0, -1), torch.tensor([n - 1])]).to(sums)
    return sums / (per * samples)


def from_weights(adapter: ModelAdapter, n: int, norm: bool) -> TensorSteps:
    """[layer, head, n + 1]: the position-only profiles, then the first position's weight."""
    hw = head_weights(adapter, weights_dtype(adapter))
    n_layers, n_heads = hw.w_q.shape[:2]
    scale = attention_scale(adapter)
    masked = torch.ones(n, n, dtype=torch.bool, device=hw.w_q.device).triu(1)
    found = torch.zeros(n_layers, n_heads, n + 1, dtype=torch.float64)
    for layer in range(n_layers):
        yield Step(layer, n_layers, f"position scores of L{layer}")
        with torch.inference_mode():
            x = positional_rows(adapter, layer, n, norm).to(hw.w_q)  # [pos, d_model]
            b_q, b_k = (b.to(hw.w_q) for b in query_key_biases(adapter, layer, hw.w_q.dtype))
            q = torch.einsum("pm,hmd->hpd", x, hw.w_q[layer]) + b_q[:, None]
            k = torch.einsum("pm,hmd->hpd", x, hw.w_k[layer]) + b_k[:, None]
            scores = (q @ k.transpose(-1, -2) / scale).masked_fill(masked, float("-inf"))
            found[layer] = as_means(offset_sums(scores.softmax(-1)), n, 1).cpu().double()
    return found


def from_random_tokens(adapter: ModelAdapter, n: int, samples: int, seed: int) -> TensorSteps:
    """[layer, head, n + 1] measured on ``samples`` seeded random sequences of n tokens."""
    cfg = adapter.cfg
    tokens = torch.randint(
        0, int(cfg.d_vocab), (samples, n), generator=torch.Generator().manual_seed(seed)
    )
    bos = bos_token(adapter)
    if bos is not None:
        tokens[:, 0] = bos
    per_sample = 4 * n * (int(cfg.d_vocab) + int(cfg.n_heads) * n)
    batch = max(1, min(SAMPLES_PER_FORWARD, BATCH_BYTES // per_sample))
    sums = torch.zeros(int(cfg.n_layers), int(cfg.n_heads), n + 1, dtype=torch.float64)

    def read(layer: int, pattern: torch.Tensor) -> None:
        sums[layer] += offset_sums(pattern.float()).sum(0).cpu().double()

    for start in range(0, samples, batch):
        yield Step(start, samples, f"random sequences {start + 1}-{min(start + batch, samples)}")
        with_patterns(adapter, tokens[start : start + batch], read)
    return as_means(sums, n, samples)


def qk_positions(session: Session, args: p.QkPositionsArgs) -> Steps:
    adapter = session.adapter
    cfg = adapter.cfg
    n_layers, n_ctx = int(cfg.n_layers), int(cfg.n_ctx)
    if args.layer is not None and not 0 <= args.layer < n_layers:
        raise TranspectorError(
            f"layer {args.layer} is out of range: this model has layers 0 to {n_layers - 1}"
        )
    n = args.length if args.length is not None else min(64, n_ctx)
    if n > n_ctx:
        raise TranspectorError(f"length {n} is more than this model's context (n_ctx {n_ctx})")
    learned = learned_positions(adapter) is not None
    method = args.method if args.method != "auto" else "weights" if learned else "random_tokens"
    if method == "weights":
        if not learned:
            positional_rows(adapter, 0, n, args.norm)  # raises: no W_pos, with what to use
        key, found = cached(adapter, f"qk_positions weights n={n} norm={args.norm}")
        if found is None:
            found = yield from from_weights(adapter, n, args.norm)
    else:
        name = f"qk_positions random n={n} samples={args.samples} seed={args.seed}"
        key, found = cached(adapter, name, hooks=True)
        if found is None:
            found = yield from from_random_tokens(adapter, n, args.samples, args.seed)
    keep(adapter, key, found)
    layers = [args.layer] if args.layer is not None else list(range(n_layers))
    return result_of(found[layers], layers, method, n, args)


def result_of(
    found: torch.Tensor, layers: list[int], method: p.PositionsMethod, n: int, a: p.QkPositionsArgs
) -> p.QkPositionsResult:
    profile, first = found[..., :n], found[..., n]
    peak, at = profile.max(-1)
    heads = [
        p.PositionHead(
            node=f"L{layer}.H{h}",
            layer=layer,
            head=h,
            previous=float(profile[i, h, 1]),
            peak_offset=int(at[i, h]),
            peak=float(peak[i, h]),
            first=float(first[i, h]),
        )
        for i, layer in enumerate(layers)
        for h in range(profile.shape[1])
    ]
    heads.sort(key=lambda head: -head.previous)
    random = method == "random_tokens"
    return p.QkPositionsResult(
        method=method,
        length=n,
        samples=a.samples if random else None,
        seed=a.seed if random else None,
        norm=None if random else a.norm,
        layers=layers,
        shape=list(profile.shape),
        profile=profile.tolist(),
        heads=heads,
    )


QK_POSITIONS = Tool(contracts.QK_POSITIONS, steps=qk_positions)
