"""An independent direct-logit-attribution decomposition, straight from a TL cache and weights."""

from __future__ import annotations

from typing import Any

import torch


def decompose(
    model: Any, prompt: str, token: int | None = None
) -> tuple[float, dict[str, float], int]:
    """(final logit of ``token`` (default: the top token) at the last position, component ->
    contribution, token).

    The components of the residual stream at the last position (embed, pos_embed, each head's
    z @ W_O, each attention bias, each MLP output) are put through the final norm with the run's
    own scale, then dotted with W_U[:, token]; the norm's bias and b_U are their own terms.
    """
    with torch.inference_mode():
        return _decompose(model, model.to_tokens(prompt), token)


def _optional(model: Any, name: str) -> Any:
    try:
        return getattr(model, name)
    except AttributeError:  # the bridge raises for bias-free checkpoints
        return None


def _decompose(
    model: Any, tokens: torch.Tensor, token: int | None
) -> tuple[float, dict[str, float], int]:
    logits, cache = model.run_with_cache(tokens)
    token = int(logits[0, -1].argmax()) if token is None else token
    norm = model.ln_final.original_component
    scale = cache["ln_final.hook_scale"][0, -1, 0]
    w_u = model.W_U[:, token]
    weight = norm.weight
    centered = model.cfg.normalization_type == "LN"

    def through_norm(vector: torch.Tensor) -> float:
        if centered:
            vector = vector - vector.mean()
        return float((vector / scale * weight) @ w_u)

    b_o = _optional(model, "b_O")  # [layer, d_model]
    parts: dict[str, float] = {"embed": through_norm(cache["hook_embed"][0, -1])}
    if "hook_pos_embed" in cache:
        parts["pos_embed"] = through_norm(cache["hook_pos_embed"][0, -1])
    for layer in range(model.cfg.n_layers):
        z = cache[f"blocks.{layer}.attn.hook_z"][0, -1]
        for head in range(model.cfg.n_heads):
            parts[f"L{layer}.H{head}"] = through_norm(z[head] @ model.W_O[layer, head])
        if b_o is not None:
            parts[f"L{layer}.b_O"] = through_norm(b_o[layer])
        parts[f"L{layer}.mlp"] = through_norm(cache[f"blocks.{layer}.hook_mlp_out"][0, -1])
    if getattr(norm, "bias", None) is not None:
        parts["ln_final.b"] = float(norm.bias @ w_u)
    b_u = _optional(model, "b_U")
    if b_u is not None:
        parts["b_U"] = float(b_u[token])
    return float(logits[0, -1, token]), parts, token
