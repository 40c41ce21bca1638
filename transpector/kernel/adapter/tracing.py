"""Causal tracing's reach into the model: the subject's token positions, the embedding's scale,
and batched forwards of noised copies (each copy its own noise draw and restored states).

Copies run along the batch dimension as in ``adapter/batched.py``: copy ``b``'s noise is added
to row ``b`` of the token embeddings, and its restores (``CopyPatch``) write row ``b`` only. A
forward may start at block L from each copy's own input of block L (``RowStart``): its noised
run's ``resid_pre``, which every restore at block L or later leaves as it is. Only the last
position's logits come back. Part of the adapter: it calls the bridge's blocks and tokenizer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import torch

from transpector.errors import TranspectorError
from transpector.kernel.adapter import BlockKwargs, ModelAdapter, hook_layer, mark_owned
from transpector.kernel.adapter.batched import CopyPatch, copy_hooks

SHOWN = 80  # characters of a prompt quoted in an error


@dataclass(frozen=True)
class RowNoise:
    """Noise added to the embedding ``hook`` at ``positions``: ``rows[b]`` [len(positions),
    d_model] to copy ``b``."""

    hook: str
    positions: list[int]
    rows: torch.Tensor


@dataclass(frozen=True)
class RowStart:
    """Copies start at block ``layer`` on ``rows`` [copies, pos, d_model] (each copy's input of
    that block), with what a one-prompt run of the same tokens passed every block."""

    layer: int
    rows: torch.Tensor
    kwargs: BlockKwargs


def embedding_std(adapter: ModelAdapter) -> float:
    """The standard deviation of every entry of the token embedding matrix W_E."""
    with torch.inference_mode():
        return float(adapter.model.W_E.detach().float().std())


def subject_positions(
    adapter: ModelAdapter, prompt: str, tokens: torch.Tensor, subject: str
) -> list[int]:
    """The positions of ``tokens`` [1, pos] (``prompt`` tokenized) whose text overlaps the first
    occurrence of ``subject`` in ``prompt``; a TranspectorError when it is not there."""
    start = prompt.find(subject)
    if start < 0:
        shown = prompt if len(prompt) <= SHOWN else prompt[:SHOWN] + "..."
        raise TranspectorError(
            f"the subject {subject!r} is not in the prompt {shown!r}; give a part of the "
            "prompt as it is written (case and spaces count), or its token positions"
        )
    end = start + len(subject)
    spans = _token_spans(adapter, prompt, [int(i) for i in tokens[0].tolist()])
    return [
        i for i, span in enumerate(spans) if span is not None and span[0] < end and span[1] > start
    ]


def _token_spans(
    adapter: ModelAdapter, prompt: str, ids: list[int]
) -> list[tuple[int, int] | None]:
    """Each token's characters [start, end) in ``prompt``; None for a token before the prompt's
    own (a BOS). The tokenizer's offsets, when its tokens of the prompt are those run."""
    tokenizer = adapter.model.tokenizer
    try:
        found = tokenizer(prompt, return_offsets_mapping=True, add_special_tokens=False)
        own, offsets = list(found["input_ids"]), list(found["offset_mapping"])
    except (NotImplementedError, ValueError, TypeError, KeyError):
        own, offsets = [], []
    lead = len(ids) - len(own)
    if not own or lead < 0 or ids[lead:] != own:
        raise TranspectorError(
            "cannot tell which tokens the subject is (the tokenizer gives no character offsets "
            "for the tokens run); give its token positions instead: positions=[...]"
        )
    return [None] * lead + [(int(a), int(b)) for a, b in offsets]


def _add_rows(act: torch.Tensor, hook: Any, *, noise: RowNoise) -> torch.Tensor:
    """Hook: ``act`` [copies, pos, d_model] with each copy's noise added at the positions."""
    act = act.clone()
    act[:, noise.positions] = act[:, noise.positions] + noise.rows.to(act.device, act.dtype)
    return act


def traced_last_logits(
    adapter: ModelAdapter,
    tokens: torch.Tensor,
    copies: Sequence[Sequence[CopyPatch]],
    noise: RowNoise | None = None,
    start: RowStart | None = None,
    capture: Sequence[str] = (),
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """The last position's logits [copies, d_vocab] (float32) of ``tokens`` [1, pos] run once per
    copy with its restores, and the ``capture`` hooks' activations [copies, pos, ...]. From the
    embeddings with ``noise`` added, or from ``start`` (no noise then: it is in the rows; every
    restore and capture must act at or after its block). Hooks go on every exit."""
    model = adapter.model
    n_layers = len(model.blocks)
    n = len(copies)
    found: dict[str, torch.Tensor] = {}

    def keep(act: torch.Tensor, hook: Any, name: str) -> None:
        found[name] = act

    hooks = [*copy_hooks(copies), *((n, mark_owned(partial(keep, name=n))) for n in capture)]
    if noise is not None:
        if noise.rows.shape[0] != n:
            raise ValueError(f"noise for {noise.rows.shape[0]} copies, not {n}")
        hooks.insert(0, (noise.hook, mark_owned(partial(_add_rows, noise=noise))))
    if start is not None:
        if noise is not None:
            raise ValueError("a forward from a block takes its noise in the rows")
        at = [(h, hook_layer(h, n_layers)) for h, _ in hooks]
        early = [h for h, where in at if where is None or where < start.layer]
        if early:
            raise ValueError(f"hooks {early} act before block {start.layer}: start earlier")
        if tuple(start.rows.shape[:2]) != (n, start.kwargs.n_pos):
            raise ValueError(f"start rows {tuple(start.rows.shape)} for {n} copies")
    with torch.inference_mode(), model.hooks(fwd_hooks=hooks):
        if start is None:
            logits: torch.Tensor = model(tokens.expand(n, -1))[:, -1]
            return logits.float(), found
        x = start.rows
        for layer in range(start.layer, n_layers):
            out = model.blocks[layer](x, **start.kwargs.by_layer[layer])
            x = out[0] if isinstance(out, tuple) else out
        last: torch.Tensor = model.unembed(model.ln_final(x[:, -1:]))[:, 0]
        return last.float(), found
