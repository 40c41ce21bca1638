"""Causal tracing (Meng et al. 2022, "Locating and Editing Factual Associations in GPT"): where in
the model one prompt's answer is carried.

The prompt's subject tokens are corrupted by Gaussian noise added to their token embeddings
(``hook_embed``); then, for each (layer, position), the clean run's hidden state there is put
back, and the answer's probability at the last position says how much of the clean run that one
state restores. Three kinds of state: the residual stream entering a layer (``resid_pre``), and
the MLP or attention outputs of a window of layers centred on it (``mlp_out``, ``attn_out``).

The noise of sample ``s`` is ``noise_scale * embed_std * torch.randn(samples, n_subject,
d_model, generator=torch.Generator().manual_seed(seed))[s]`` (float32 on the CPU, then the
model's dtype), added at the subject positions in order; ``embed_std`` is the standard
deviation of every entry of the token embedding matrix ``W_E``. Probabilities are averaged over
the samples.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

# What a row restores: the residual stream entering the layer at one position, or the MLP or
# attention output at one position of every layer of the window centred on the layer.
TraceKind = Literal["resid_pre", "mlp_out", "attn_out"]
Position = Annotated[int, Field(ge=-100_000, le=100_000)]


class TracingArgs(BaseModel):
    """A trace of ``text`` (default: the session's prompt) with its subject given as a
    substring (``subject``) or as token positions (``positions``), one of the two."""

    model_config = ConfigDict(extra="forbid")

    text: str | None = Field(
        default=None, min_length=1, max_length=100_000, description="Default: the session's prompt"
    )
    subject: str | None = Field(
        default=None,
        min_length=1,
        max_length=100_000,
        description="A substring of the prompt (its first occurrence): its tokens get the noise",
    )
    positions: list[Position] | None = Field(
        default=None,
        max_length=100_000,
        description="The subject's token positions (negative count from the end), instead of "
        "subject",
    )
    answer: str | None = Field(
        default=None,
        min_length=1,
        max_length=1000,
        description="One token, e.g. ' Paris'; default the clean run's top token",
    )
    kinds: list[TraceKind] | None = Field(
        default=None,
        min_length=1,
        max_length=3,
        description="Default: resid_pre, mlp_out and attn_out (those the model has)",
    )
    window: int = Field(
        default=10, ge=1, le=4096, description="Layers restored together by mlp_out and attn_out"
    )
    noise_scale: float = Field(
        default=3.0, ge=0.0, le=1000.0, description="The noise's std in units of W_E's std"
    )
    samples: int = Field(default=10, ge=1, le=1000, description="Noise draws averaged over")
    seed: int = Field(default=0, ge=0, le=2**32 - 1, description="Seeds the noise draws")
    memory_mb: int = Field(
        default=256,
        ge=1,
        le=1_048_576,
        description="Activation memory one batched forward may use: sets the copies per forward",
    )
    copies_per_forward: int | None = Field(
        default=None, ge=1, le=4096, description="Runs per forward; default from memory_mb"
    )


class Trace(BaseModel):
    """One kind's grid: ``probs[i][j]`` is the answer's probability (mean over the samples)
    with the clean ``kind`` restored at position ``positions[j]`` of the layers
    ``restored[i]`` (row ``i`` is centred on layer ``layers[i]``)."""

    kind: TraceKind
    restored: list[list[int]] = Field(description="Per row, the layers restored together")
    probs: list[list[float]] = Field(description="[layer][position]")


class TracingResult(BaseModel):
    text: str
    tokens: list[str]
    subject: str | None = Field(description="The subject as given; None when positions were")
    subject_positions: list[int] = Field(description="The noised token positions, ascending")
    answer: str = Field(description="The answer token's text")
    answer_id: int
    embed_std: float = Field(description="The std of every entry of W_E")
    noise_std: float = Field(description="noise_scale * embed_std: the std of the added noise")
    samples: int
    seed: int
    clean_prob: float = Field(description="The answer's probability on the clean prompt")
    corrupted_prob: float = Field(
        description="Its probability with the subject noised and nothing restored (mean)"
    )
    layers: list[int]
    positions: list[int]
    traces: list[Trace]
    forwards: int = Field(description="Batched forwards run, the noised runs included")
    copies_per_forward: int = Field(description="The most runs one forward held")
    skipped: int = Field(
        description="Restored runs that needed no forward: every restored value equals the "
        "noised run's (positions before the subject); theirs is the noised run's probability"
    )
    resumed: bool = Field(description="Whether restored runs started at their first layer")
    note: str = ""
