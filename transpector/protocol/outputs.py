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
    clean_probs: list[list[float]] | None = Field(
        default=None,
        description="With interventions: each listed token's probability in the clean run",
    )


class LossArgs(_Args):
    pass


class LossResult(BaseModel):
    loss: list[float] = Field(description="Entry i: cross-entropy of predicting token i+1")


class HeadDlaArgs(_Args):
    by_metric: bool = Field(
        default=True,
        description="Attribute to the session metric's tokens (a logit difference, the "
        "loss's token); else to the top token",
    )


class HeadDlaResult(BaseModel):
    head_dla: list[list[float]] = Field(
        description="[layer][head]: direct logit attribution at the last position to "
        "dla_label's logit (or logit difference)"
    )
    dla_token: TokenProb = Field(description="The token attributed to (a difference: its first)")
    dla_label: str = Field(default="", description="What is attributed to, e.g. logit(' Paris')")
