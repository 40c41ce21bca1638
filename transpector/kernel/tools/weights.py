"""Weight analyses as long tools (no prompt, no forward): head composition scores and each head's
OV circuit on tokens (see ``transpector/protocol/weights.py`` for what they compute).

Composition without [d_model, d_model] products per pair: ||W_OV1 R2||_F^2 equals the inner
product <W_OV1^T W_OV1, R2 R2^T>, and both Gram matrices are X G X^T with X [d_model, d_head] and
G [d_head, d_head] (W_OV^T W_OV = W_O^T (W_V^T W_V) W_O). Each Gram matrix is symmetric, so
only its upper triangle is kept (the earlier head's off-diagonal entries doubled), and one
matmul scores every earlier head against a later layer's heads. The earlier heads' triangles go
in blocks of layers that fit ``memory_mb``. Sums run in float64 (float32 on MPS).

Results are kept per model and weights version (``adapter.weights_key()``): a weight changed in
place computes them again. The same small cache (``cached`` / ``keep``, a few entries per model,
least recently used first out) keeps ``qk_positions``'s profiles (``tools/positions.py``).
"""

from __future__ import annotations

import weakref
from collections import OrderedDict
from collections.abc import Callable, Generator
from typing import TYPE_CHECKING, Any

import torch

from transpector.kernel.adapter.weights import (
    HeadWeights,
    embedding,
    head_weights,
    logit_directions,
    weights_dtype,
)
from transpector.kernel.tools.base import Step, Steps, Tool
from transpector.protocol import tools as contracts
from transpector.protocol import weights as w

if TYPE_CHECKING:
    from transpector.kernel.adapter import ModelAdapter
    from transpector.kernel.session import Session

TensorSteps = Generator[Step, None, torch.Tensor]

CACHE_ENTRIES = 8  # per model: a few kinds of a few weights versions
_cache: weakref.WeakKeyDictionary[Any, OrderedDict[tuple[Any, ...], torch.Tensor]] = (
    weakref.WeakKeyDictionary()
)


def cached(
    adapter: ModelAdapter, name: str, hooks: bool = False
) -> tuple[tuple[Any, ...], torch.Tensor | None]:
    """The key of ``name`` for the adapter's model at its weights version (and, with ``hooks``,
    the hooks on it: for results of a forward), and its kept value."""
    key = (name, adapter.model_key() if hooks else adapter.weights_key())
    found = _cache.setdefault(adapter.model, OrderedDict()).get(key)
    if found is not None:
        _cache[adapter.model].move_to_end(key)
    return key, found


def keep(adapter: ModelAdapter, key: tuple[Any, ...], value: torch.Tensor) -> None:
    entries = _cache.setdefault(adapter.model, OrderedDict())
    entries[key] = value
    while len(entries) > CACHE_ENTRIES:
        entries.popitem(last=False)


def _sym(x: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """x @ g @ x^T: [..., d_model, d_head] and [..., d_head, d_head] to [..., d_model, d_model]."""
    return x @ g @ x.transpose(-1, -2)


def _gram_of_ov(hw: HeadWeights, layer: int) -> torch.Tensor:
    """W_OV^T W_OV of the layer's heads [head, d_model, d_model]."""
    w_v, w_o = hw.w_v[layer], hw.w_o[layer]
    return _sym(w_o.transpose(-1, -2), w_v.transpose(-1, -2) @ w_v)


RIGHT: dict[str, Callable[[HeadWeights, int], torch.Tensor]] = {
    # R R^T of the later head: W_QK W_QK^T (Q), W_QK^T W_QK (K), W_OV W_OV^T (V)
    "Q": lambda hw, i: _sym(hw.w_q[i], hw.w_k[i].transpose(-1, -2) @ hw.w_k[i]),
    "K": lambda hw, i: _sym(hw.w_k[i], hw.w_q[i].transpose(-1, -2) @ hw.w_q[i]),
    "V": lambda hw, i: _sym(hw.w_v[i], hw.w_o[i] @ hw.w_o[i].transpose(-1, -2)),
}


def composition_scores(adapter: ModelAdapter, kind: str, memory_mb: int) -> TensorSteps:
    """Steps to the scores [layer, head, layer, head] (earlier head first), kept per weights."""
    key, found = cached(adapter, f"composition {kind}")
    if found is not None:
        return found
    hw = head_weights(adapter, weights_dtype(adapter))
    n_layers, n_heads, _, d_model = hw.w_o.shape
    rows, cols = torch.triu_indices(d_model, d_model, device=hw.w_o.device)
    twice = torch.where(rows == cols, 1.0, 2.0).to(hw.w_o.dtype)

    def packed(gram: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return gram[:, rows, cols], gram.diagonal(dim1=-2, dim2=-1).sum(-1).sqrt()

    per_layer = n_heads * rows.numel() * hw.w_o.element_size()
    block = max(1, memory_mb * 2**20 // per_layer)
    starts = list(range(0, n_layers - 1, block))
    total = sum(n_layers - 1 - start for start in starts)
    scores = torch.zeros(n_layers, n_heads, n_layers, n_heads, dtype=hw.w_o.dtype)
    done = 0
    yield Step(0, total, f"{kind}-composition")
    for start in starts:
        end = min(start + block, n_layers - 1)
        with torch.inference_mode():
            lefts = [packed(_gram_of_ov(hw, layer)) for layer in range(start, end)]
            left = torch.cat([t for t, _ in lefts]) * twice  # [layers * head, triangle]
            left_norm = torch.cat([n for _, n in lefts])
        for later in range(start + 1, n_layers):
            upto = min(end, later)  # earlier layers start..upto-1
            with torch.inference_mode():
                right, right_norm = packed(RIGHT[kind](hw, later))
                squares = left[: (upto - start) * n_heads] @ right.T
                norms = left_norm[: (upto - start) * n_heads, None] * right_norm[None, :]
                found = squares.clamp(min=0).sqrt() / norms
                found = torch.where(norms > 0, found, 0.0)
                scores[start:upto, :, later] = found.reshape(upto - start, n_heads, n_heads).cpu()
            done += 1
            yield Step(done, total, f"{kind}-composition into L{later}")
    keep(adapter, key, scores)
    return scores


def head_composition(session: Session, args: w.CompositionArgs) -> Steps:
    scores = yield from composition_scores(session.adapter, args.kind, args.memory_mb)
    n_layers, n_heads = scores.shape[:2]
    flat = scores.flatten()
    above = flat > (args.threshold if args.threshold is not None else 0.0)
    if args.threshold is None:  # every pair of an earlier and a later layer, a zero one too
        layer_of = torch.arange(n_layers).repeat_interleave(n_heads)
        above = (layer_of[:, None] < layer_of[None, :]).flatten()
    at = above.nonzero()[:, 0]
    order = at[flat[at].argsort(descending=True, stable=True)][: args.max_edges]
    pairs = n_layers * n_heads

    def node(i: int) -> str:
        return f"L{i // n_heads}.H{i % n_heads}"

    edges = [
        w.CompositionEdge(from_node=node(i // pairs), to_node=node(i % pairs), score=score)
        for i, score in zip(order.tolist(), flat[order].tolist(), strict=True)
    ]
    return w.CompositionResult(
        kind=args.kind,
        shape=list(scores.shape),
        scores=flat.tolist(),
        edges=edges,
        edges_above=int(at.numel()),
        threshold=args.threshold,
    )


def copying_scores(adapter: ModelAdapter, hw: HeadWeights, w_e: torch.Tensor) -> TensorSteps:
    """Steps to each head's eigenvalue copying score [layer, head], kept per weights. The
    nonzero eigenvalues of W_E W_V W_O W_U' [d_vocab, d_vocab] are those of
    W_O (W_U' W_E) W_V [d_head, d_head] (AB and BA share them)."""
    key, found = cached(adapter, "copying")
    if found is not None:
        return found
    n_layers = hw.w_o.shape[0]
    yield Step(0, n_layers + 1, "W_U' W_E")
    with torch.inference_mode():
        readout = logit_directions(adapter, w_e.dtype).T @ w_e  # [d_model, d_model]
    scores = torch.zeros(hw.w_o.shape[:2], dtype=w_e.dtype)
    for layer in range(n_layers):
        yield Step(layer + 1, n_layers + 1, f"eigenvalues of L{layer}")
        with torch.inference_mode():
            values = torch.linalg.eigvals(hw.w_o[layer] @ readout @ hw.w_v[layer])
            total = values.abs().sum(-1)
            ratio = values.sum(-1).real / total
            scores[layer] = torch.where(total > 0, ratio, 0.0).cpu()
    keep(adapter, key, scores)
    return scores


def ov_copying(session: Session, args: w.OvCopyingArgs) -> Steps:
    adapter = session.adapter
    token = None if args.token is None else adapter.single_token(args.token)
    dtype = weights_dtype(adapter)
    hw = head_weights(adapter, dtype)
    w_e = embedding(adapter, dtype)
    scores = yield from copying_scores(adapter, hw, w_e)
    top = None
    if token is not None:
        with torch.inference_mode():
            out = torch.einsum("m,lhmd,lhdn->lhn", w_e[token], hw.w_v, hw.w_o)
            logits = out @ logit_directions(adapter, dtype).T  # [layer, head, d_vocab]
            values, ids = logits.topk(min(args.k, logits.shape[-1]), dim=-1)
        texts = iter(adapter.decode(ids.flatten().tolist()))
        top = [
            [
                [w.OvToken(token=next(texts), id=i, logit=v) for i, v in zip(hi, hv, strict=True)]
                for hi, hv in zip(li, lv, strict=True)
            ]
            for li, lv in zip(ids.tolist(), values.tolist(), strict=True)
        ]
    return w.OvCopyingResult(
        shape=list(scores.shape),
        copying=scores.tolist(),
        token=None if token is None else adapter.decode([token])[0],
        token_id=token,
        top=top,
    )


HEAD_COMPOSITION = Tool(contracts.HEAD_COMPOSITION, steps=head_composition)
OV_COPYING = Tool(contracts.OV_COPYING, steps=ov_copying)
