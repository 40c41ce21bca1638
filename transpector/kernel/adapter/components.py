"""The constant parts of the residual stream's logits: attention output biases, the final norm's
bias and the unembedding's bias, each read from the live model (None where it has none)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from transpector.kernel.adapter import ModelAdapter


def attention_biases(adapter: ModelAdapter) -> torch.Tensor | None:
    """b_O of every layer [layer, d_model], or None for a model without them."""
    try:
        stacked = adapter.model.b_O
    except AttributeError:  # the bridge raises for bias-free checkpoints
        return None
    return None if stacked is None else stacked.detach()


def bias_logits(adapter: ModelAdapter, tokens: list[int]) -> dict[str, torch.Tensor]:
    """The logit terms [len(tokens)] the residual stream does not carry: the final norm's bias
    through the unembedding ("ln_final.b") and the unembedding's bias ("b_U"), where present."""
    terms: dict[str, torch.Tensor] = {}
    unembed = adapter.unembed()
    rows = unembed.weight[tokens]  # [tokens, d_model]
    norm_bias = getattr(adapter.final_norm(), "bias", None)
    with torch.inference_mode():
        if norm_bias is not None:
            terms["ln_final.b"] = (rows @ norm_bias).float()
        bias = getattr(unembed, "bias", None)
        if bias is not None:
            terms["b_U"] = bias[tokens].float()
    return terms
