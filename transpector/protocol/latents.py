"""Sparse autoencoder latents of a node (seed 002's "Use MLP autoencoder"), as neurons are shown.

``latents``: for an MLP node ``L{l}.mlp`` (the autoencoder reads ``blocks.{l}.hook_mlp_out``)
or a residual node ``L{l}.resid_pre|resid_mid|resid_post``, whether an autoencoder is loaded for
its hook (``session.load_sae``), and if so its latents ranked by their largest activation on
the prompt in the current state (or at one position). With ``latent`` given, that latent's
dashboard too, as a neuron's: its activation over the prompt's tokens, its top windows and
histogram over a dataset (scanned without interventions, cached on disk per weights, dataset,
hook and autoencoder), and its logit effects: the top and bottom tokens of ``W_dec[latent]``
read through the unembedding and the final norm's weight (centred for LayerNorm).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from transpector.protocol.datasets import DatasetInfo, DatasetSpec
from transpector.protocol.neurons import NeuronContext, NeuronHistogram, TokenValue

NODE = r"^L\d+\.(mlp|resid_pre|resid_mid|resid_post)$"


class LatentsArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    node: str = Field(pattern=NODE, max_length=32, description="An MLP or residual node")
    k: int = Field(default=20, ge=1, le=100_000, description="How many latents to list")
    position: int | None = Field(
        default=None, ge=-1_000_000, le=1_000_000,
        description="Rank by the activation at this position; default: the largest anywhere",
    )  # fmt: skip
    latent: int | None = Field(default=None, ge=0, le=1 << 20, description="Show its dashboard")
    contexts: int = Field(default=10, ge=1, le=32, description="Top activating windows to show")
    n_logits: int = Field(default=10, ge=1, le=100, description="Tokens each way")
    dataset: DatasetSpec | None = Field(
        default=None, description="The dataset to scan; default: the session's"
    )


class RankedLatent(BaseModel):
    latent: int
    value: float = Field(description="Its largest activation (or at the position asked)")
    position: int = Field(description="Where that is")


class LatentView(BaseModel):
    latent: int
    acts: list[float] = Field(description="Its activation at each of the prompt's tokens")
    top_logits: list[TokenValue] = Field(description="Tokens it raises most, highest first")
    bottom_logits: list[TokenValue] = Field(description="Tokens it lowers most, lowest first")
    dataset: DatasetInfo
    contexts: list[NeuronContext] = Field(description="Top activating windows, highest first")
    histogram: NeuronHistogram


class LatentsResult(BaseModel):
    node: str
    hook: str
    loaded: bool = Field(description="Whether an autoencoder is loaded for the hook")
    d_sae: int = Field(description="Its latents (0 when none is loaded)")
    architecture: str = ""
    tokens: list[str] = Field(description="The prompt's tokens")
    latents: list[RankedLatent] = Field(description="Active ones, highest first")
    view: LatentView | None = None
