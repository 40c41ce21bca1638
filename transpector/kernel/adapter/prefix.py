"""Forwards of the positions after a shared prefix (DESIGN "Speed"): where every copy agrees with
the unpatched run before position ``s`` (same tokens, patches that change nothing there), causal
attention leaves positions ..s-1 as they were in that run, in every block. A forward then runs
positions s.. alone, and each block's attention reads the keys and values of positions ..s-1
recorded from the unpatched run: fed through the cache argument the bridge's attention extends
its keys and values with (``update(k, v, layer)``, as a Hugging Face cache).

A model may take that argument under another name or not at all (TransformerLens's native blocks
drop it): ``batched.prefix_name`` finds the name once per model by checking that such a forward
gives a full forward's logits, else forwards run every position. Part of the adapter.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from transpector.kernel.adapter.resume import BlockKwargs

# Names a block may take a key/value cache under, tried in this order (transformers 5 renames
# past_key_values to cache in its decoder layers, which the bridge's attention does not read).
CACHE_NAMES = ("past_key_values", "cache", "layer_past")
KV = dict[int, tuple[torch.Tensor, torch.Tensor]]  # attention layer index -> keys, values


@dataclass(frozen=True)
class Prefix:
    """Keys and values [1, kv_heads, s, d_head] of positions ..s-1 of the unpatched run, by the
    attention's layer index, passed to each block as ``name``."""

    name: str
    kv: KV


class _Recorder:
    """A cache that keeps each layer's keys and values and changes nothing."""

    def __init__(self) -> None:
        self.kv: KV = {}

    def update(
        self, k: torch.Tensor, v: torch.Tensor, layer: int, *args: Any, **kwargs: Any
    ) -> Any:
        self.kv[layer] = (k, v)
        return k, v


class PrefixCache:
    """A cache that puts the prefix's keys and values before every copy's own (never stores)."""

    def __init__(self, kv: KV) -> None:
        self.kv = kv

    def update(
        self, k: torch.Tensor, v: torch.Tensor, layer: int, *args: Any, **kwargs: Any
    ) -> Any:
        keys, values = self.kv[layer]
        n = k.shape[0]
        return (
            torch.cat([keys.expand(n, -1, -1, -1), k], dim=-2),
            torch.cat([values.expand(n, -1, -1, -1), v], dim=-2),
        )


def sliced(kwargs: BlockKwargs, start: int, stop: int) -> BlockKwargs:
    """What every block takes for queries at positions start..stop-1 and keys at ..stop-1; a
    ValueError for an argument of unknown layout."""
    found = BlockKwargs(n_pos=stop - start)
    for layer, named in kwargs.by_layer.items():
        found.by_layer[layer] = {name: _slice(name, v, start, stop) for name, v in named.items()}
    return found


def _slice(name: str, value: Any, start: int, stop: int) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if name == "position_embeddings" and isinstance(value, tuple):  # rotary (cos, sin)
        return tuple(part[:, start:stop] for part in value)  # [batch, pos, rotary_dim]
    if not isinstance(value, torch.Tensor):
        raise ValueError(f"block argument {name} of unknown layout: {type(value).__name__}")
    if name == "attention_mask" and value.ndim == 4:
        return value[..., start:stop, :stop]  # [batch, 1, query, key]
    if name == "attention_mask" and value.ndim == 2:
        return value[:, :stop]  # [batch, key] padding
    if name in ("position_ids", "cache_position"):
        return value[..., start:stop]
    raise ValueError(f"block argument {name} {tuple(value.shape)} of unknown layout")


def record(model: Any, resid_pre: torch.Tensor, kwargs: BlockKwargs, layer: int, name: str) -> KV:
    """The keys and values of blocks ``layer``.. run on ``resid_pre`` [s, d_model] (block
    ``layer``'s input at positions ..s-1), with ``kwargs`` sliced to those positions."""
    recorder = _Recorder()
    part = sliced(kwargs, 0, int(resid_pre.shape[0]))
    x = resid_pre[None]
    with torch.inference_mode():
        for i in range(layer, len(model.blocks)):
            out = model.blocks[i](x, **part.by_layer[i], **{name: recorder})
            x = out[0] if isinstance(out, tuple) else out
    return recorder.kv
