"""Run every prompt of the session, one by one, with progress and cancel."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from transpector.protocol.outputs import TokenProb


class PromptBatchArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")


class BatchRow(BaseModel):
    prompt: str
    n_tokens: int
    mean_loss: float
    top_token: TokenProb  # the most likely next token after the prompt


class PromptBatchResult(BaseModel):
    rows: list[BatchRow]
    complete: bool  # False when cancelled part way
