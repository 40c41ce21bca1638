"""What a run shows, computed from the logits and the few activations captured for it."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from transpector.protocol.run import LogitLens, TokenProb

LENS_ROWS_PER_CHUNK = 128  # bounds the lens's [rows, d_vocab] logits to ~25 MB at 49k vocab


def top_k(model: Any, logits: torch.Tensor, k: int) -> list[list[TokenProb]]:
    """The k most likely next tokens at every position. logits: [pos, d_vocab]."""
    probs = logits.float().softmax(-1)
    values, ids = probs.topk(min(k, probs.shape[-1]), dim=-1)
    return [
        [
            TokenProb(token=_decode(model, i), id=i, prob=p)
            for p, i in zip(row_p, row_i, strict=True)
        ]
        for row_p, row_i in zip(values.tolist(), ids.tolist(), strict=True)
    ]


def token_loss(logits: torch.Tensor, token_ids: torch.Tensor) -> list[float]:
    """Cross-entropy of each next token: entry i is the loss of predicting token i+1."""
    losses: list[float] = F.cross_entropy(
        logits[:-1].float(), token_ids[1:], reduction="none"
    ).tolist()
    return losses


def logit_lens(model: Any, stack: torch.Tensor, layers: list[str]) -> LogitLens:
    """Top-1 token and its probability for every row of ``stack`` [rows, pos, d_model], through
    the final norm and the unembedding, in chunks of one batched matmul each."""
    flat = stack.reshape(-1, stack.shape[-1])
    best_ids, best_probs = [], []
    for chunk in flat.split(LENS_ROWS_PER_CHUNK):
        logits = lens_logits(model, chunk)
        best, ids = logits.max(-1)
        best_ids.append(ids)
        best_probs.append((best - logits.logsumexp(-1)).exp())
    shape = stack.shape[:2]
    ids = torch.cat(best_ids).reshape(shape).tolist()
    return LogitLens(
        layers=layers,
        token_ids=ids,
        tokens=[[_decode(model, i) for i in row] for row in ids],
        probs=torch.cat(best_probs).reshape(shape).tolist(),
    )


def lens_logits(model: Any, resid: torch.Tensor) -> torch.Tensor:
    """Residual vectors [..., d_model] read as the model's output: final norm, then unembed."""
    norm, unembed = model.ln_final.original_component, model.unembed.original_component
    logits: torch.Tensor = unembed(norm(resid)).float()
    return logits


def head_dla(
    model: Any, w_o: torch.Tensor, z_last: torch.Tensor, scale_last: torch.Tensor, token: int
) -> list[list[float]]:
    """Direct logit attribution of every head to ``token`` at the last position.

    The final norm is linear once its scale is fixed: ln_final(x) = (x - mean(x)) / scale * w + b
    (no centering for RMSNorm). So with the run's scale at the last position, the residual stream's
    components add up to the logit:  logit[t] = sum_c  center(c) . (w * W_U[:, t]) / scale
    + b . W_U[:, t] + b_U[t], where c runs over embed, pos_embed, every head (z_h @ W_O[h]), every
    attention bias b_O and every MLP output. This returns the head terms, [layer][head].
    w_o: [layer, head, d_head, d_model]; z_last: [layer, head, d_head] at the last position.
    """
    direction = model.unembed.original_component.weight[token]  # [d_model] = W_U[:, t]
    weight = getattr(model.ln_final.original_component, "weight", None)
    if weight is not None:
        direction = direction * weight
    if model.cfg.normalization_type in ("LN", "LNPre"):
        direction = direction - direction.mean()  # center(c) . d == c . center(d)
    per_head = torch.einsum("lhdm,m->lhd", w_o, direction)
    dla: list[list[float]] = (torch.einsum("lhd,lhd->lh", z_last, per_head) / scale_last).tolist()
    return dla


def _decode(model: Any, token_id: int) -> str:
    return str(model.tokenizer.decode([token_id]))
