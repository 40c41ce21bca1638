"""Weight analyses: they read the model's weights only, no prompt.

``head_composition``: Q-, K- and V-composition scores (Elhage et al. 2021, "A Mathematical
Framework for Transformer Circuits") between every head of an earlier layer and every head of a
later one, as TransformerLens's ``all_composition_scores`` defines them:
``||W_OV1 @ R2||_F / (||W_OV1||_F ||R2||_F)`` with ``W_OV = W_V @ W_O`` of the earlier head and
``R2`` the later head's ``W_QK = W_Q @ W_K^T`` (Q), ``W_QK^T`` (K) or ``W_OV`` (V); biases and
norms are left out.

``ov_copying``: each head's OV circuit read from tokens to logits, ``W_E @ W_V @ W_O @ W_U'``,
where row t of ``W_U'^T`` is ``logit_direction(t)`` (W_U's column times the final norm's weight,
centred for LayerNorm; no scale, no biases). The copying score is Elhage et al.'s eigenvalue
score of that [d_vocab, d_vocab] matrix: sum(eigenvalues) / sum(|eigenvalues|), 1 when every
eigenvalue is positive (the head raises the logit of the token it attends to).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

CompositionKind = Literal["Q", "K", "V"]


class CompositionArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: CompositionKind = Field(
        default="K",
        description="Which input of the later head reads the earlier head's output: its "
        "queries (Q), keys (K) or values (V)",
    )
    threshold: float | None = Field(
        default=None, ge=0.0, le=1.0, description="List only edges scoring above it; default all"
    )
    max_edges: int = Field(default=100, ge=0, le=1_000_000, description="At most this many edges")
    memory_mb: int = Field(
        default=256, ge=1, le=1_048_576, description="Memory the earlier heads' terms may use"
    )


class CompositionEdge(BaseModel):
    """An edge of the graph: head ``from_node`` (``L{l}.H{h}``) composes into ``to_node``."""

    from_node: str
    to_node: str
    score: float


class CompositionResult(BaseModel):
    kind: CompositionKind
    shape: list[int] = Field(description="[layer, head, layer, head]: earlier head, later head")
    scores: list[float] = Field(
        description="Row-major over shape; zero unless the first layer is before the second"
    )
    edges: list[CompositionEdge] = Field(description="Above threshold, highest score first")
    edges_above: int = Field(description="How many pairs scored above the threshold in all")
    threshold: float | None


class OvCopyingArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    token: str | None = Field(
        default=None,
        min_length=1,
        max_length=1000,
        description="One token, e.g. ' Paris': each head's top tokens for it; default none",
    )
    k: int = Field(default=10, ge=1, le=1000, description="Top tokens per head")


class OvToken(BaseModel):
    token: str
    id: int
    logit: float = Field(description="W_E[t] @ W_OV @ W_U' for this token: its direct logit")


class OvCopyingResult(BaseModel):
    shape: list[int] = Field(description="[layer, head]")
    copying: list[list[float]] = Field(
        description="[layer][head]: sum(eigenvalues) / sum(|eigenvalues|) of W_E W_OV W_U'"
    )
    token: str | None = None
    token_id: int | None = None
    top: list[list[list[OvToken]]] | None = Field(
        default=None, description="[layer][head][k]: the token's top k through each head's OV"
    )
