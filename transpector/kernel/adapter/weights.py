"""The model's weights as the weight analyses read them (the only place they are read from the
bridge): every head's W_Q, W_K, W_V, W_O with grouped key/value heads repeated per query head,
the token embedding W_E, and the unembedding through the final norm's weight.

Conventions are TransformerLens's (row vectors): a residual vector x [d_model] gives a head's
query x @ W_Q[l, h] and its output z @ W_O[l, h]; under grouped-query attention query head h
reads key/value head h // (n_heads // n_key_value_heads) (``repeat_interleave``, as
``TransformerBridge.all_composition_scores`` expands them).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

from transpector.errors import TranspectorError

if TYPE_CHECKING:
    from transpector.kernel.adapter import ModelAdapter


@dataclass(frozen=True)
class HeadWeights:
    """Detached copies in ``dtype``: W_Q, W_K, W_V [layer, head, d_model, d_head] (W_K and W_V
    repeated per query head) and W_O [layer, head, d_head, d_model]."""

    w_q: torch.Tensor
    w_k: torch.Tensor
    w_v: torch.Tensor
    w_o: torch.Tensor


def weights_dtype(adapter: ModelAdapter) -> torch.dtype:
    """float64 where the model's device has it (the analyses sum many products), else float32."""
    return torch.float32 if adapter.model.W_E.device.type == "mps" else torch.float64


def head_weights(adapter: ModelAdapter, dtype: torch.dtype) -> HeadWeights:
    model = adapter.model
    n_heads = int(adapter.cfg.n_heads)
    try:
        w_q, w_k, w_v, w_o = model.W_Q, model.W_K, model.W_V, model.W_O
    except AttributeError as error:  # a layer without attention weights (a hybrid model)
        raise TranspectorError(f"this model's attention weights cannot be read: {error}") from None

    def expand(w: torch.Tensor) -> torch.Tensor:
        if w.shape[1] == n_heads:
            return w
        return w.repeat_interleave(n_heads // w.shape[1], dim=1)

    def plain(w: torch.Tensor) -> torch.Tensor:
        return w.detach().to(dtype)

    return HeadWeights(plain(w_q), plain(expand(w_k)), plain(expand(w_v)), plain(w_o))


def embedding(adapter: ModelAdapter, dtype: torch.dtype) -> torch.Tensor:
    """W_E [d_vocab, d_model]."""
    w_e: torch.Tensor = adapter.model.W_E
    return w_e.detach().to(dtype)


def logit_directions(adapter: ModelAdapter, dtype: torch.dtype) -> torch.Tensor:
    """Every token's ``adapter.logit_direction`` as one matrix [d_vocab, d_model]: W_U's column
    times the final norm's weight, centred for LayerNorm. The norm's scale (a per-position
    number) is left out, and so are its bias and the unembedding's bias."""
    rows = adapter.unembed().weight.detach().to(dtype)  # [d_vocab, d_model]
    weight = getattr(adapter.final_norm(), "weight", None)
    if weight is not None:
        rows = rows * weight.detach().to(dtype)
    if adapter.cfg.normalization_type in ("LN", "LNPre"):
        rows = rows - rows.mean(-1, keepdim=True)
    return rows
