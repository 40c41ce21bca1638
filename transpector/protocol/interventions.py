"""Interventions as data (DESIGN invariant 1): serializable specs, applied only as temporary hooks.

Targets are node ids: a head ``L{l}.H{h}``, an attention layer ``L{l}.attn``, an MLP ``L{l}.mlp``,
a neuron ``L{l}.mlp.N{i}``, a residual node ``L{l}.resid_pre|resid_mid|resid_post``, or ``embed`` /
``pos_embed``. ``positions`` restricts any of them to some token positions (None: all).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from transpector.protocol.datasets import DatasetSpec

AblationMethod = Literal["zero", "mean", "resample"]
# The largest seed: torch's generator takes more, but an integer above 2**53 - 1 is not exact in a
# browser's JSON nor in the OpenAPI document (FastAPI writes bounds as floats: 2**63 - 1 was 2**63).
MAX_SEED = 2**53 - 1
Seed = Annotated[int, Field(ge=0, le=MAX_SEED, description="Draws of resample ablation")]


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(
        default="",
        max_length=64,
        pattern=r"^[A-Za-z0-9_.-]*$",
        description="Stable id, used by remove(); given when added (letters, digits, _ . -)",
    )
    node: str = Field(description="Target node id")
    positions: list[int] | None = Field(
        default=None, max_length=100_000, description="Token positions; None: all"
    )


class Ablate(_Spec):
    """Replace the target by zero, its mean over the reference prompts, or a resampled value."""

    kind: Literal["ablate"] = "ablate"
    method: AblationMethod = "zero"
    seed: Seed = 0


class Isolate(_Spec):
    """Ablate every other head of the target head's layer."""

    kind: Literal["isolate"] = "isolate"
    method: AblationMethod = "zero"
    seed: Seed = 0


class Freeze(_Spec):
    """Keep the target's value from a run of ``prompt`` (the prompt when it was frozen)."""

    kind: Literal["freeze"] = "freeze"
    prompt: str


class Patch(_Spec):
    """Copy ``source`` node's activation on ``source_prompt`` into the target ``node``."""

    kind: Literal["patch"] = "patch"
    source: str
    source_prompt: str


class MeanDiff(BaseModel):
    """The mean over every position of ``positive`` minus that of ``negative``, at the target."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: Literal["mean_diff"] = "mean_diff"
    positive: list[str] = Field(min_length=1, max_length=1000)
    negative: list[str] = Field(min_length=1, max_length=1000)


class NeuronDirection(BaseModel):
    """What neuron ``neuron`` (``L{l}.mlp.N{i}``) writes to the residual: row i of layer l's
    ``W_out`` [d_model]."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: Literal["neuron"] = "neuron"
    neuron: str


class NamedVector(BaseModel):
    """A tensor from a cell, kept by the session under ``name`` (``session.set_vector``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: Literal["tensor"] = "tensor"
    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")


SteerSource = Annotated[MeanDiff | NeuronDirection | NamedVector, Field(discriminator="kind")]


class Steer(_Spec):
    """Add ``scale`` times a vector (from ``source``) to the target at ``positions`` (None:
    every position, generated tokens included)."""

    kind: Literal["steer"] = "steer"
    scale: float = Field(default=1.0, allow_inf_nan=False, ge=-1e6, le=1e6)
    source: SteerSource


class Latent(_Spec):
    """Through the sparse autoencoder loaded for the target node's hook (``session.load_sae``):
    the activation becomes its reconstruction plus its error, with latent ``latent`` ablated
    (zero), steered (``scale`` added) or patched (its value on ``source_prompt``). Only that
    latent's change times its decoder row reaches the model, so nothing else moves."""

    kind: Literal["latent"] = "latent"
    latent: int = Field(ge=0, le=1 << 20, description="The latent's index")
    action: Literal["ablate", "steer", "patch"] = "ablate"
    scale: float = Field(default=0.0, allow_inf_nan=False, ge=-1e6, le=1e6)
    source_prompt: str = Field(default="", description="patch: the prompt it copies from")


KEY_WINDOWS = 256  # 16,384 tokens in windows of 64: a few minutes of scanning at most


class EditFact(_Spec):
    """A rank-one edit (ROME) of the MLP ``node`` (``L{l}.mlp``) so that ``prompt``, which
    contains ``subject``, continues with ``target``. The weights never change: the edit's
    rank-one term is added by hooks inside runs, like every intervention. It is computed once per
    weights (``session.edit_fact``), with the keys' statistics from the first ``key_windows``
    windows of ``dataset``: the same spec is always the same edit."""

    kind: Literal["edit"] = "edit"
    prompt: str = Field(min_length=1, max_length=2000)
    subject: str = Field(min_length=1, max_length=500, description="A part of the prompt")
    target: str = Field(min_length=1, max_length=200, description="The new continuation")
    dataset: DatasetSpec | None = Field(
        default=None, description="The keys' statistics come from it; None: the embedded corpus"
    )
    key_windows: int = Field(default=KEY_WINDOWS, ge=1, le=1_000_000)


Intervention = Annotated[
    Ablate | Isolate | Freeze | Patch | Steer | Latent | EditFact, Field(discriminator="kind")
]
