"""Batched patched forwards (DESIGN "Speed"): many copies of one prompt in one forward, along the
batch dimension, each copy with its own patches.

Copy ``b``'s patches are hook functions that write row ``b`` of an activation only, so one
forward of ``n`` copies gives the logits of ``n`` separately patched runs. A forward can start at
block L from the unpatched run's input of block L (``Start``): patches at block L or later change
nothing before it; and at position s, when nothing before s differs from the unpatched run, with
that run's keys and values of positions ..s-1 (``adapter/prefix.py``). Only the last position's
logits come back ([copies, d_vocab]): the final norm and the unembedding run on that position
alone. Part of the adapter: it calls the bridge's blocks.
"""

from __future__ import annotations

import warnings
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import torch

from transpector.kernel.adapter import BlockKwargs, Hooks, ModelAdapter, hook_layer, mark_owned
from transpector.kernel.adapter.prefix import CACHE_NAMES, Prefix, PrefixCache, record, sliced

_checked: weakref.WeakKeyDictionary[Any, str | None] = weakref.WeakKeyDictionary()
_names: weakref.WeakKeyDictionary[Any, str | None] = weakref.WeakKeyDictionary()
CHECK_TOLERANCE = 1e-5  # relative: batched resumed logits against a full forward's


@dataclass(frozen=True)
class CopyPatch:
    """One patch of one copy: ``act[index] = value`` on the copy's activation [pos, ...] at
    ``hook`` (the index has no batch dimension)."""

    hook: str
    index: tuple[Any, ...]
    value: torch.Tensor


@dataclass(frozen=True)
class Start:
    """Where the copies start: block ``layer`` on ``resid_pre`` [pos, d_model], its input in the
    unpatched run, with what that run passed every block (``kwargs``); with ``prefix``, the
    positions from s on (``resid_pre``, ``kwargs`` and the copies' hooks see those alone) after
    that run's keys and values of positions ..s-1."""

    layer: int
    resid_pre: torch.Tensor
    kwargs: BlockKwargs
    prefix: Prefix | None = None


def copy_hooks(copies: Sequence[Sequence[CopyPatch]]) -> Hooks:
    """One hook function per hook name, writing each copy's patches into its own batch row."""
    by_hook: dict[str, list[tuple[int, CopyPatch]]] = {}
    for row, patches in enumerate(copies):
        for patch in patches:
            by_hook.setdefault(patch.hook, []).append((row, patch))
    return [(hook, mark_owned(partial(_write_rows, rows=rows))) for hook, rows in by_hook.items()]


def _write_rows(act: torch.Tensor, hook: Any, *, rows: list[tuple[int, CopyPatch]]) -> torch.Tensor:
    """Hook: a copy of ``act`` [copies, pos, ...] with each row's patch written into it; a
    ValueError for a value of another shape than what it replaces (never broadcast)."""
    act = act.clone()
    for row, patch in rows:
        shape = act[row][patch.index].shape
        if shape != patch.value.shape:
            raise ValueError(
                f"{hook.name}: a patch of shape {tuple(patch.value.shape)} for "
                f"{tuple(shape)} at {patch.index}"
            )
        act[row][patch.index] = patch.value
    return act


def last_logits(
    adapter: ModelAdapter,
    tokens: torch.Tensor,
    copies: Sequence[Sequence[CopyPatch]],
    start: Start | None = None,
) -> torch.Tensor:
    """The last position's logits [copies, d_vocab] (float32) of ``tokens`` [1, pos] run once per
    copy, each with its own patches, in one forward; from ``start`` when given (every patch must
    act at or after its block), else from the embeddings. Hooks go on every exit."""
    model = adapter.model
    n_layers = len(model.blocks)
    hooks = copy_hooks(copies)
    n = len(copies)
    if start is not None:
        at = {h: hook_layer(h, n_layers) for h, _ in hooks}
        early = [h for h, where in at.items() if where is None or where < start.layer]
        if early:
            raise ValueError(f"hooks {early} act before block {start.layer}: start earlier")
        if start.resid_pre.shape[0] != start.kwargs.n_pos:
            raise ValueError(f"block kwargs are for {start.kwargs.n_pos} tokens")
    with torch.inference_mode(), model.hooks(fwd_hooks=hooks):
        if start is None:
            logits: torch.Tensor = model(tokens.expand(n, -1))[:, -1]
            return logits.float()
        x = start.resid_pre[None].repeat(n, 1, 1)  # [copies, pos, d_model]
        cache = {} if start.prefix is None else {start.prefix.name: PrefixCache(start.prefix.kv)}
        for layer in range(start.layer, n_layers):
            out = model.blocks[layer](x, **start.kwargs.by_layer[layer], **cache)
            x = out[0] if isinstance(out, tuple) else out
        last: torch.Tensor = model.unembed(model.ln_final(x[:, -1:]))[:, 0]
        return last.float()


def batch_resume_problem(adapter: ModelAdapter) -> str | None:
    """None when batched forwards may start at a block (``Start``), else why not. Checked once
    per model: copies started at block 0 from a one-prompt run's block inputs must give that
    run's logits (the captured masks and position tables must broadcast over copies)."""
    problem = adapter.resume_problem()
    if problem is not None:
        return problem
    model = adapter.model
    if model not in _checked:
        _checked[model] = _problem(adapter)
    return _checked[model]


def _problem(adapter: ModelAdapter) -> str | None:
    cfg = adapter.cfg
    tokens = torch.arange(4, device=cfg.device)[None] % cfg.d_vocab
    entry = "blocks.0.hook_resid_pre"
    try:
        full, acts, kwargs = adapter.forward_keeping_inputs(tokens, [], [entry])
        batched = last_logits(adapter, tokens, [[], []], Start(0, acts[entry], kwargs))
    except (RuntimeError, TypeError, ValueError, KeyError) as error:
        return f"batched resuming failed: {error!r}"
    diff = float((batched - full[-1].float()).abs().max())
    if diff > CHECK_TOLERANCE * (1 + float(full[-1].abs().max())):
        return f"batched resumed logits differ from a full forward's by {diff:.2g}"
    return None


def prefix_start(adapter: ModelAdapter, start: Start, at: int, name: str) -> Start:
    """``start`` from position ``at`` on, after the keys and values of positions ..at-1 of blocks
    ``start.layer``.. (recorded by running those positions alone)."""
    model, pos = adapter.model, start.kwargs.n_pos
    kv = record(model, start.resid_pre[:at], start.kwargs, start.layer, name)
    return Start(start.layer, start.resid_pre[at:], sliced(start.kwargs, at, pos), Prefix(name, kv))


def prefix_name(adapter: ModelAdapter) -> str | None:
    """The name this model's blocks take a key/value cache under (``adapter/prefix.py``), None
    when none gives a full forward's logits. Checked once per model, after
    ``batch_resume_problem``, on copies started at block 0 and position 2 of 5 tokens."""
    model = adapter.model
    if model not in _names:
        _names[model] = None
        cfg = adapter.cfg
        tokens = torch.arange(5, device=cfg.device)[None] % cfg.d_vocab
        entry = "blocks.0.hook_resid_pre"
        full, acts, kwargs = adapter.forward_keeping_inputs(tokens, [], [entry])
        whole = Start(0, acts[entry], kwargs)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a renamed argument's deprecation warning
            for name in CACHE_NAMES:
                try:
                    start = prefix_start(adapter, whole, 2, name)
                    if len(start.prefix.kv if start.prefix else {}) != len(model.blocks):
                        continue
                    found = last_logits(adapter, tokens, [[], []], start)
                except (RuntimeError, TypeError, ValueError, KeyError, IndexError, AttributeError):
                    continue
                diff = float((found - full[-1].float()).abs().max())
                if diff <= CHECK_TOLERANCE * (1 + float(full[-1].abs().max())):
                    _names[model] = name
                    break
    return _names[model]


def bytes_per_copy(cfg: Any, n_pos: int, resumed: bool) -> int:
    """About what one copy holds at once inside a block: the residual and a few tensors of its
    size, the MLP's hidden activations, q/k/v/z, attention scores and pattern; plus its logits
    (every position's without ``resumed``, else the last one's)."""
    itemsize = int(torch.empty((), dtype=getattr(cfg, "dtype", torch.float32)).element_size())
    d_mlp = int(cfg.d_mlp or 0)
    heads = int(cfg.n_heads)
    per_token = 8 * int(cfg.d_model) + 3 * d_mlp + 4 * heads * int(cfg.d_head) + 3 * heads * n_pos
    logits = (1 if resumed else n_pos) * int(cfg.d_vocab) * (itemsize + 4)
    return n_pos * per_token * itemsize + logits
