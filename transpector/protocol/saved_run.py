"""A saved run: what a trace saved (locally, or on NDIF with ``remote=True``), shown on the
canvas. ``session.show_saved(saved)`` reads it once, through the live model's own final norm and
unembedding for the lens (the weights are here even when the run was not); the ``saved_run``
tool hands out what it read, and one attention head's pattern when asked."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from transpector.protocol.lens import LogitLens
from transpector.protocol.outputs import TokenProb

SAVED_TOP_K = 10  # next tokens listed from the saved logits
MAX_ATTENTION_TOKENS = 128  # a head's pattern is sent for prompts up to this many tokens


class SavedRunInfo(BaseModel):
    """In the session state: which saved run the canvas shows (its values stay in the kernel)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(max_length=80)
    id: str = Field(description="New for every show_saved: a card asks again when it changes")
    n_tokens: int


class SavedRunArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    layer: int | None = Field(
        default=None, ge=0, le=10_000, description="Send this layer's saved attention pattern"
    )
    head: int = Field(default=0, ge=0, le=10_000, description="Which head of that layer")


class SavedRun(BaseModel):
    """What the canvas shows of a saved run. ``lens`` rows are the residuals that were saved
    (``blocks.L.hook_resid_pre`` / ``_mid`` / ``_post``), read as the live model's output."""

    name: str
    id: str
    tokens: list[str]
    token_ids: list[int]
    top_k: list[TokenProb] = Field(
        default_factory=list,
        description="The next token's top-k from the saved logits' last position ([] unsaved)",
    )
    lens: LogitLens | None = Field(default=None, description="None when no residual was saved")
    attention_layers: list[int] = Field(description="Layers whose hook_pattern was saved")
    n_heads: int
    saved: list[str] = Field(description="The names given, as given")
    not_shown: list[str] = Field(
        default_factory=list, description="Hook points saved that this view does not draw"
    )


class SavedAttention(BaseModel):
    layer: int
    head: int
    pattern: list[list[float]] = Field(description="[query, key] attention weights")


class SavedRunResult(BaseModel):
    run: SavedRun | None = Field(default=None, description="None: nothing was shown yet")
    attention: SavedAttention | None = None
