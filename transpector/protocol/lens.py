"""The logit lens: every residual row read through the final norm and the unembedding."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from transpector.protocol.jacobian_lens import JacobianLensInfo
from transpector.protocol.outputs import TokenProb

LENS_WINDOW = 64  # positions a run's lens covers by default: the last ones
LensKind = Literal["logit", "jacobian"]
KIND_DESCRIPTION = (
    "logit: each row through the final norm and unembedding; jacobian: through the session's "
    "fitted Jacobian lens first (see transpector/protocol/jacobian_lens.py)"
)


class LogitLensArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    positions: list[int] | None = Field(
        default=None,
        max_length=4096,
        description=f"Positions to compute (negative count from the end); default the last "
        f"{LENS_WINDOW}",
    )
    kind: LensKind = Field(default="logit", description=KIND_DESCRIPTION)


class LogitLens(BaseModel):
    """Top-1 token per (row, position): rows are resid_pre of each layer, then the final
    resid_post; each is put through the final norm and the unembedding. Columns are
    ``positions`` (ascending), a window of the prompt on long prompts."""

    layers: list[str]
    positions: list[int]
    n_tokens: int
    token_ids: list[list[int]]
    tokens: list[list[str]]
    probs: list[list[float]]
    clean_token_ids: list[list[int]] | None = Field(
        default=None, description="With interventions: the clean run's top-1 per cell"
    )
    clean_tokens: list[list[str]] | None = None
    clean_probs: list[list[float]] | None = None
    kind: LensKind = "logit"
    no_transport: list[str] = Field(
        default_factory=list,
        description="Jacobian lens: rows left out, having no transport matrix (the embeddings)",
    )
    logit_token_ids: list[list[int]] | None = Field(
        default=None, description="Jacobian lens: the logit lens's top-1 per cell, same run"
    )
    logit_tokens: list[list[str]] | None = None
    jacobian: JacobianLensInfo | None = Field(
        default=None, description="Jacobian lens: what it was fitted on, and how"
    )


class LensTopKArgs(BaseModel):
    """One lens cell: ``row`` is a lens row such as ``L3.resid_pre``."""

    model_config = ConfigDict(extra="forbid")

    row: str = Field(max_length=64)
    position: int = Field(ge=-100_000, le=100_000)
    k: int = Field(default=10, ge=1, le=100)
    kind: LensKind = Field(default="logit", description=KIND_DESCRIPTION)


class LensTopKResult(BaseModel):
    row: str
    position: int
    top_k: list[TokenProb]
