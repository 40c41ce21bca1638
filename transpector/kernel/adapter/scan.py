"""What dataset scans ask of the model (part of the adapter): plain token ids of a text, the
special tokens that start a window and separate texts, a forward that stops once the one hook
it reads has fired, and an MLP neuron's output weights.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Any

import torch

if TYPE_CHECKING:
    from transpector.kernel.adapter import ModelAdapter


class _Captured(Exception):
    """Raised by the capture hook: the rest of the forward is not needed."""


def plain_ids(adapter: ModelAdapter, texts: list[str]) -> list[list[int]]:
    """Each text's token ids, without special tokens."""
    ids: list[list[int]] = adapter.model.tokenizer(texts, add_special_tokens=False)["input_ids"]
    return ids


def window_tokens(adapter: ModelAdapter) -> tuple[int | None, int | None]:
    """(the token a window starts with, None when the model prepends none; the token between
    two texts, None when the tokenizer has no end-of-text token)."""
    tokenizer = adapter.model.tokenizer
    bos = tokenizer.bos_token_id if getattr(adapter.cfg, "default_prepend_bos", True) else None
    sep = tokenizer.eos_token_id if tokenizer.eos_token_id is not None else bos
    return bos, sep


def capture_until(adapter: ModelAdapter, tokens: torch.Tensor, hook: str) -> torch.Tensor:
    """``hook``'s activation [batch, pos, ...] on ``tokens`` [batch, pos] in a run without
    interventions; the forward stops there (later blocks and the unembedding are not run).
    The hook is removed on every exit."""
    found: dict[str, torch.Tensor] = {}

    def keep(act: torch.Tensor, hook: Any, name: str) -> None:
        found[name] = act.detach()
        raise _Captured

    from transpector.kernel.adapter import mark_owned

    with torch.inference_mode():
        try:
            with adapter.model.hooks(fwd_hooks=[(hook, mark_owned(partial(keep, name=hook)))]):
                adapter.model(tokens)
        except _Captured:
            pass
    if hook not in found:
        raise ValueError(f"the hook {hook} did not fire")
    return found[hook]


def neuron_out_weights(adapter: ModelAdapter, layer: int) -> torch.Tensor:
    """W_out of an MLP layer [d_mlp, d_model]: row n is what neuron n adds to the residual per
    unit of activation."""
    w_out: torch.Tensor = adapter.model.W_out[layer]
    return w_out.detach()


def neuron_logit_effects(adapter: ModelAdapter, layer: int, index: int) -> torch.Tensor:
    """``W_out[layer][index] @ W_U'`` [d_vocab] (float32): each token's logit change per unit
    of the neuron's activation through the final norm's weight (centred for LayerNorm; the
    norm's scale and the biases left out), as ``adapter.logit_direction`` reads a token. Computed
    without a [d_vocab, d_model] copy of the unembedding."""
    return direction_logit_effects(adapter, neuron_out_weights(adapter, layer)[index])


def direction_logit_effects(adapter: ModelAdapter, direction: torch.Tensor) -> torch.Tensor:
    """``direction @ W_U'`` [d_vocab] (float32) for any residual direction [d_model], as
    ``neuron_logit_effects`` reads a neuron's (an autoencoder latent's decoder row, say)."""
    w_u = adapter.unembed().weight.detach()  # [d_vocab, d_model]
    out = direction.detach().to(w_u.dtype)  # [d_model]
    weight = getattr(adapter.final_norm(), "weight", None)
    scale = torch.ones_like(out) if weight is None else weight.detach().to(w_u.dtype)
    with torch.inference_mode():
        effects = w_u @ (scale * out)
        if adapter.cfg.normalization_type in ("LN", "LNPre"):
            effects = effects - (w_u @ scale) * out.sum() / out.numel()
    return effects.float()


def window_text(adapter: ModelAdapter, ids: list[int]) -> str:
    """A window's tokens as text, without the BOS token it starts with (the model adds that
    back when the text is a prompt)."""
    bos, _ = window_tokens(adapter)
    if bos is not None and ids and ids[0] == bos:
        ids = ids[1:]
    text: str = adapter.model.tokenizer.decode(ids)
    return text
