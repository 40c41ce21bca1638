"""The per-run output tools: top-k next tokens, per-token loss and per-head DLA.

Their results travel together in the run summary, as soon as a run's forward is done.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class TokenProb(BaseModel):
    token: str
    id: int
    prob: float


class _Args(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TopKArgs(_Args):
    k: int = Field(default=10, ge=1, le=100)


class TopKResult(BaseModel):
    top_k: list[list[TokenProb]] = Field(description="Per position, the k most likely next tokens")


class LossArgs(_Args):
    pass


class LossResult(BaseModel):
    loss: list[float] = Field(description="Entry i: cross-entropy of predicting token i+1")


class HeadDlaArgs(_Args):
    pass


class HeadDlaResult(BaseModel):
    head_dla: list[list[float]] = Field(
        description="[layer][head]: direct logit attribution to dla_token at the last position"
    )
    dla_token: TokenProb
