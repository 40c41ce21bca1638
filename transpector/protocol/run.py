"""What a run shows: top-k next tokens, per-token loss, the logit lens and per-head DLA."""

from __future__ import annotations

from pydantic import BaseModel


class TokenProb(BaseModel):
    token: str
    id: int
    prob: float


class LogitLens(BaseModel):
    """Top-1 token per (layer, position): rows are resid_pre of each layer, then the final
    resid_post; each is put through the final norm and the unembedding."""

    layers: list[str]
    token_ids: list[list[int]]
    tokens: list[list[str]]
    probs: list[list[float]]
