"""The session's metric: one number per run that says how much an intervention mattered.

It is read at the last position. ``top_prob`` (the default) is the probability of the clean run's
top token; ``logit_diff`` the logit of ``correct`` minus that of ``wrong`` (e.g. " Mary" and
" John"); ``token_loss`` the cross-entropy of ``token`` (-log p). Each token is given as text
that must be one token of the model's vocabulary.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from transpector.protocol.outputs import TokenProb

TokenText = Annotated[str, Field(min_length=1, max_length=200)]


class _Metric(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TopProb(_Metric):
    """The probability of the clean run's most likely next token."""

    kind: Literal["top_prob"] = "top_prob"


class LogitDiff(_Metric):
    """logit(correct) - logit(wrong)."""

    kind: Literal["logit_diff"] = "logit_diff"
    correct: TokenText
    wrong: TokenText


class TokenLoss(_Metric):
    """-log p(token)."""

    kind: Literal["token_loss"] = "token_loss"
    token: TokenText


Metric = Annotated[TopProb | LogitDiff | TokenLoss, Field(discriminator="kind")]


class MetricArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    metric: Metric | None = Field(default=None, description="Default: the session's metric")


class MetricValue(BaseModel):
    """The metric on this run and on the clean run of the same prompt (no interventions)."""

    spec: Metric
    label: str = Field(description="What is measured, e.g. logit(' Mary') - logit(' John')")
    value: float
    clean: float
    tokens: list[TokenProb] = Field(description="The tokens it reads, with this run's probs")


class MetricResult(BaseModel):
    metric: MetricValue


class PromptPair(BaseModel):
    """A clean/corrupt pair: the unit of activation patching. Both have the same token count."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    clean: str
    corrupt: str
