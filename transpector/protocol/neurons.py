"""MLP neurons (seed 002's neuron records; Neuronpedia's dashboards).

``mlp_neurons``: an MLP node's neurons ranked by their largest activation on the current prompt
(in the current state), or at one position. A neuron's activation is the MLP's hidden
activation ``blocks.{l}.mlp.hook_post`` (after the nonlinearity; for a gated MLP the product of
the activated gate and the up projection), the value ``W_out`` multiplies.

``neuron_view``: one neuron ``L{l}.mlp.N{i}``: its activation over the prompt's tokens, its top-k
activating windows of a dataset (each window's largest activation, the token where it is, and
the activation at every token), a histogram of all its activations over the dataset, and its
logit effects: the top and bottom tokens of ``W_out[n] @ W_U'``, where row t of ``W_U'^T`` is
W_U's column t times the final norm's weight (centred for LayerNorm; no scale, no biases). The
dataset is scanned without interventions, in batches, once per weights, dataset and layer
(cached on disk): a scan reads every neuron of the layer, so the layer's other neurons then come
from the cache.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from transpector.protocol.datasets import DatasetInfo, DatasetSpec


class MlpNeuronsArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    node: str = Field(pattern=r"^L\d+\.mlp$", max_length=32, description="An MLP node, L{l}.mlp")
    k: int = Field(default=20, ge=1, le=100_000, description="How many neurons to list")
    position: int | None = Field(
        default=None,
        ge=-1_000_000,
        le=1_000_000,
        description="Rank by the activation at this position (negative: from the end); "
        "default: by the largest over all positions",
    )


class RankedNeuron(BaseModel):
    neuron: str = Field(description="L{l}.mlp.N{i}")
    index: int
    value: float = Field(description="Its largest activation (or at the position asked)")
    position: int = Field(description="Where that is")


class MlpNeuronsResult(BaseModel):
    node: str
    d_mlp: int
    tokens: list[str] = Field(description="The prompt's tokens")
    neurons: list[RankedNeuron] = Field(description="Highest first")


class NeuronViewArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    neuron: str = Field(
        pattern=r"^L\d+\.mlp\.N\d+$", max_length=40, description="A neuron, L{l}.mlp.N{i}"
    )
    k: int = Field(default=10, ge=1, le=32, description="Top activating windows to show")
    n_logits: int = Field(default=10, ge=1, le=100, description="Tokens each way")
    dataset: DatasetSpec | None = Field(
        default=None, description="The dataset to scan; default: the session's"
    )


class TokenValue(BaseModel):
    token: str
    id: int
    value: float


class NeuronContext(BaseModel):
    window: int = Field(description="The window's index in the dataset")
    tokens: list[str]
    acts: list[float] = Field(description="The neuron's activation at each token")
    max_position: int = Field(description="The token with its largest activation")
    max_value: float


class NeuronHistogram(BaseModel):
    lo: float = Field(description="The first bin's left edge")
    width: float = Field(description="Every bin's width")
    counts: list[int] = Field(description="Activations per bin, from lo on")
    below: int = Field(description="Activations below the layer's bins")
    above: int = Field(description="Activations above the layer's bins")
    density: float = Field(description="Share of the dataset's tokens where it is above zero")


class NeuronViewResult(BaseModel):
    neuron: str
    layer: int
    index: int
    hook: str
    tokens: list[str] = Field(description="The prompt's tokens")
    acts: list[float] = Field(description="Its activation at each of the prompt's tokens")
    top_logits: list[TokenValue] = Field(description="Tokens it raises most, highest first")
    bottom_logits: list[TokenValue] = Field(description="Tokens it lowers most, lowest first")
    dataset: DatasetInfo
    contexts: list[NeuronContext] = Field(description="Top activating windows, highest first")
    histogram: NeuronHistogram
