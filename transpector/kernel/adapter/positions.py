"""What the positional attention profile reads from the bridge (see
``transpector/protocol/positions.py``): W_pos through a layer's first norm, the query and key
biases, the attention scale, the BOS token, and every layer's attention pattern on a batch of
token sequences. Part of the adapter: the only code here that touches the bridge's internals.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any

import torch

from transpector.errors import TranspectorError
from transpector.kernel.adapter import mark_owned

if TYPE_CHECKING:
    from transpector.kernel.adapter import ModelAdapter


def learned_positions(adapter: ModelAdapter) -> torch.Tensor | None:
    """W_pos [n_ctx, d_model] (detached), or None where the model has none (rotary, ALiBi)."""
    try:
        w_pos: torch.Tensor = adapter.model.W_pos
    except AttributeError:
        return None
    return w_pos.detach()


def positional_rows(adapter: ModelAdapter, layer: int, n: int, norm: bool) -> torch.Tensor:
    """W_pos[:n] [n, d_model], through layer ``layer``'s first norm when ``norm`` (the norm's
    own module, called on the rows alone; no hooks fire). Float32 or the weights' dtype."""
    w_pos = learned_positions(adapter)
    if w_pos is None:
        kind = adapter.cfg.positional_embedding_type
        raise TranspectorError(
            f"this model has no learned positional embedding (positions are {kind}); use "
            "method 'random_tokens' (or 'auto')"
        )
    rows = w_pos[:n]
    ln1 = getattr(adapter.model.blocks[layer], "ln1", None) if norm else None
    if ln1 is not None:
        with torch.inference_mode():
            rows = getattr(ln1, "original_component", ln1)(rows)
    return rows.detach().clone()


def query_key_biases(
    adapter: ModelAdapter, layer: int, dtype: torch.dtype
) -> tuple[torch.Tensor, torch.Tensor]:
    """b_Q and b_K of the layer's heads [head, d_head] (b_K repeated per query head under
    grouped-query attention); zeros where the model has none."""
    cfg = adapter.cfg
    attn = adapter.model.blocks[layer].attn

    def read(name: str) -> torch.Tensor:
        bias = getattr(attn, name, None)
        if bias is None:
            return torch.zeros(cfg.n_heads, cfg.d_head, dtype=dtype)
        bias = bias.detach().to(dtype).cpu().reshape(-1, cfg.d_head)
        return bias.repeat_interleave(cfg.n_heads // bias.shape[0], dim=0)

    return read("b_Q"), read("b_K")


def attention_scale(adapter: ModelAdapter) -> float:
    """What the scores are divided by: the config's attn_scale where it sets one (> 0), else
    sqrt(d_head); 1 where the config turns scaling off."""
    cfg = adapter.cfg
    if not getattr(cfg, "use_attn_scale", True):
        return 1.0
    scale = float(getattr(cfg, "attn_scale", -1.0) or -1.0)
    return scale if scale > 0 else math.sqrt(cfg.d_head)


def bos_token(adapter: ModelAdapter) -> int | None:
    """The token the model prepends to its prompts, or None when it prepends none."""
    if not getattr(adapter.cfg, "default_prepend_bos", True):
        return None
    bos = getattr(adapter.model.tokenizer, "bos_token_id", None)
    return None if bos is None else int(bos)


def with_patterns(
    adapter: ModelAdapter, tokens: torch.Tensor, read: Callable[[int, torch.Tensor], None]
) -> None:
    """Run the model on ``tokens`` [batch, pos] with only temporary hooks of ours (removed on
    exit; no session interventions) and call ``read(layer, pattern)`` with each layer's
    ``hook_pattern`` [batch, head, query, key] as it is computed."""

    def hook(act: torch.Tensor, hook: Any, layer: int) -> None:
        read(layer, act.detach())

    n_layers = int(adapter.cfg.n_layers)
    hooks = [
        (f"blocks.{layer}.attn.hook_pattern", mark_owned(partial(hook, layer=layer)))
        for layer in range(n_layers)
    ]
    with torch.inference_mode(), adapter.model.hooks(fwd_hooks=hooks):
        adapter.model(tokens.to(adapter.model.W_E.device), return_type=None)
