"""The Jacobian lens: a learned lens beside the logit lens (TransformerLens's ``JacobianLens``).

For each block output ``h_l`` it fits one ``d_model x d_model`` matrix ``J_l``, the Jacobian of
the last block's output with respect to ``h_l``, averaged over the positions of a corpus's
prompts; a residual is read as ``unembed(final_norm(J_l h_l))`` (the logit lens is ``J_l = I``).
Lens row ``L{l}.resid_pre`` (l >= 1) is block ``l-1``'s output and reads through ``J_{l-1}``; the
last row (the model's output) is the identity; ``L0.resid_pre``, the embeddings, is no block's
output and has no matrix.

A fit takes ``n_prompts`` windows of a dataset (spread evenly over it) as prompts, each cut to
``max_seq_len`` tokens; the first ``skip_first_positions`` positions and the last are left out of
each prompt's average. It is cached on disk by the model's weights, the dataset and these
options, and the lens fitted last for a model's weights is loaded by itself when asked for.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from transpector.protocol.datasets import DatasetInfo, DatasetSpec

DEFAULT_N_PROMPTS = 4
DEFAULT_MAX_SEQ_LEN = 32
DEFAULT_DIM_BATCH = 8
DEFAULT_SKIP_FIRST = 4


class FitJacobianLensArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    dataset: DatasetSpec | None = Field(
        default=None, description="Where the prompts come from; default: the session's dataset"
    )
    n_prompts: int = Field(
        default=DEFAULT_N_PROMPTS, ge=1, le=1024, description="Windows of the dataset to fit on"
    )
    max_seq_len: int = Field(
        default=DEFAULT_MAX_SEQ_LEN, ge=3, le=1_000_000, description="Tokens per prompt, at most"
    )
    source_layers: list[int] | None = Field(
        default=None,
        max_length=4096,
        description="Blocks whose outputs get a matrix (TL's layers; negative count from the "
        "end); default every block but the last. Fewer, later ones fit faster",
    )
    dim_batch: int = Field(
        default=DEFAULT_DIM_BATCH,
        ge=1,
        le=4096,
        description="Output dimensions per backward pass (memory against passes; same result); "
        "at most d_model is used",
    )
    skip_first_positions: int = Field(
        default=DEFAULT_SKIP_FIRST,
        ge=0,
        le=1_000_000,
        description="Leading positions of each prompt left out of the average",
    )
    refit: bool = Field(default=False, description="Fit again even when the cache has this lens")


class JacobianLensInfo(BaseModel):
    """The session's Jacobian lens: what it was fitted on and how."""

    key: str = Field(description="Its cache key: weights, dataset and options")
    rows: list[str] = Field(description="Lens rows with a transport matrix")
    n_prompts: int = Field(description="Prompts averaged (a prompt too short is left out)")
    dataset: DatasetInfo
    source_layers: list[int] = Field(description="TL's layers: block outputs with a matrix")
    max_seq_len: int
    dim_batch: int
    skip_first_positions: int
    fitted_at: str = Field(
        description="When it was fitted (UTC, ISO 8601); a lens loaded from the cache keeps its own"
    )
    fit_seconds: float = Field(description="How long the fit took")
    path: str = Field(description="The cached file (TransformerLens's artifact format)")
