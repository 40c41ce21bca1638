"""Sparse autoencoders (seed 002's "Use MLP autoencoder"): what training one reports.

A report's figures are measured once training ends: ``fvu`` (fraction of variance unexplained)
and ``l0`` (mean active latents per token) on the held-out windows (the dataset's last ones,
never trained on); ``dead_latents`` counts latents that fire on no token of the whole dataset.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

Architecture = Literal["topk", "standard"]  # sae-lens's names: TopK, and ReLU with an L1 penalty


class SaeReport(BaseModel):
    hook: str = Field(description="The hook the autoencoder reads, e.g. blocks.3.hook_resid_post")
    architecture: Architecture
    d_in: int
    d_sae: int = Field(description="Latents")
    k: int | None = Field(description="Active latents per token (topk); None for standard")
    dataset: str = Field(description="The dataset's name")
    train_tokens: int = Field(description="Tokens trained on (per epoch)")
    heldout_tokens: int
    epochs: int
    fvu: float = Field(description="Held-out fraction of variance unexplained")
    l0: float = Field(description="Held-out mean active latents per token")
    dead_latents: int = Field(description="Latents active on no token of the dataset")
    scan_seconds: float = Field(description="Reading the activations from the model")
    train_seconds: float = Field(description="The optimisation alone")
    tokens_per_s: float = Field(
        description="Training throughput: train_tokens * epochs / train_seconds"
    )
