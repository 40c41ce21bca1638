"""Plain TransformerLens helpers behind every intervention.

The Session applies interventions with these functions, and ``session.code()`` copies this
module's source into the Python it writes, so the canvas and the exported code cannot disagree.
Only torch and a TransformerLens model are needed.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import torch


def capture(model: Any, prompts: Sequence[str], hook_names: Sequence[str]) -> dict[str, list[Any]]:
    """Each hook's activation ``[pos, ...]`` for each prompt, from runs without interventions."""
    found: dict[str, list[Any]] = {name: [] for name in hook_names}

    def keep(act: Any, hook: Any, name: str) -> None:
        found[name].append(act[0].detach().clone())

    hooks = [(name, functools.partial(keep, name=name)) for name in hook_names]
    with torch.inference_mode(), model.hooks(fwd_hooks=hooks):
        for prompt in prompts:
            model(model.to_tokens(prompt))
    return found


def index_of(positions: Sequence[int] | None, feature: Sequence[int]) -> tuple[Any, ...]:
    """The index ``[batch, pos, *feature]`` of a target: all batch rows, some or all positions."""
    pos: Any = slice(None) if positions is None else list(positions)
    return (slice(None), pos, *feature)


def set_value(act: Any, hook: Any, *, index: tuple[Any, ...], value: Any) -> Any:
    """Hook: the activation with ``act[index] = value`` (a copy; value broadcasts over batch)."""
    act = act.clone()
    act[index] = value
    return act


def add_value(act: Any, hook: Any, *, index: tuple[Any, ...], value: Any) -> Any:
    """Hook: the activation with ``value`` added at ``index`` (a copy; steering)."""
    act = act.clone()
    act[index] = act[index] + value
    return act


def mean_diff_value(
    positive: Sequence[Any], negative: Sequence[Any], feature: Sequence[int]
) -> Any:
    """The target's mean over every position of the ``positive`` runs minus the ``negative``."""
    return mean_value(positive, feature) - mean_value(negative, feature)


def mean_value(acts: Sequence[Any], feature: Sequence[int]) -> Any:
    """Mean of the target over every position of every reference prompt: one position's value."""
    pooled = torch.cat(list(acts))[(slice(None), *feature)]
    return pooled.mean(0)


def resample_value(
    acts: Sequence[Any],
    feature: Sequence[int],
    positions: Sequence[int] | None,
    n_pos: int,
    seed: int,
) -> Any:
    """For each position, the target's value at a random (prompt, position) of the references."""
    pooled = torch.cat(list(acts))[(slice(None), *feature)]
    generator = torch.Generator().manual_seed(seed)
    draws = torch.randint(len(pooled), (n_pos,), generator=generator)
    values = pooled[draws]
    return values if positions is None else values[list(positions)]


def source_value(act: Any, feature: Sequence[int], positions: Sequence[int] | None) -> Any:
    """The source node's value ``[pos, *unit]`` at the same positions (negative ones count from
    the end of the source prompt)."""
    rows = act if positions is None else act[list(positions)]
    return rows[(slice(None), *feature)]


def edit_latent(
    act: Any,
    hook: Any,
    *,
    sae: Any,
    latent: int,
    positions: Sequence[int] | None,
    value: Any = None,
    add: float = 0.0,
) -> Any:
    """Hook: the activation spliced through autoencoder ``sae``: its reconstruction plus its
    error, with latent ``latent`` set to ``value`` (None: kept) plus ``add`` at ``positions``.
    Written as ``act + (new - old) * W_dec[latent]``: exactly ``act`` where nothing changes."""
    old = sae.encode(act)[..., latent].to(act.dtype)  # [batch, pos]
    pos: Any = slice(None) if positions is None else list(positions)
    new = old.clone()
    if value is not None:
        new[:, pos] = torch.as_tensor(value, dtype=act.dtype, device=act.device)
    new[:, pos] += add
    return act + (new - old)[..., None] * sae.W_dec[latent].detach().to(act.dtype)


def rank_one_hooks(keys_hook: str, out_hook: str, left: Any, right: Any) -> list[Any]:
    """Hooks that edit an MLP as ``W_out + left ⊗ right`` would (ROME): its output gains
    ``(k · left) right`` for each key ``k``, its hidden activation at ``keys_hook`` [batch, pos,
    d_mlp]. The weights themselves are never touched."""
    keys: list[Any] = []

    def read(act: Any, hook: Any) -> None:
        keys.append(act @ left.to(act.device, act.dtype))  # [batch, pos]

    def write(out: Any, hook: Any) -> Any:
        return out + keys.pop()[..., None] * right.to(out.device, out.dtype)

    return [(keys_hook, read), (out_hook, write)]
