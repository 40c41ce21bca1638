"""``qk_positions``: each head's positional attention profile, the attention it pays by relative
offset (query position - key position), from the weights where it can, else measured.

``weights`` (a model with learned absolute positions, a ``W_pos``): for layer l and head h, the
attention the head would pay if the residual stream at every position p held only ``W_pos[p]``:
``x = ln1_l(W_pos[:n])`` (the layer's first norm applied to the rows on their own: LayerNorm
centres, divides by the root mean square and adds its weight and bias; RMSNorm divides and
multiplies; ``norm=False`` skips it), ``q = x W_Q[l, h] + b_Q[l, h]``,
``k = x W_K[l, h] + b_K[l, h]``, scores ``q k^T / attn_scale`` (sqrt(d_head) unless the config
sets another), the causal mask, softmax over keys. Biases absent from the model count as zero;
soft-capped scores and ALiBi are not modelled. The token embeddings and every earlier layer are
left out: this is the head's positional preference alone.

``random_tokens`` (any model; the only one where positions are rotary): ``samples`` sequences of
``length`` tokens drawn uniformly from the vocabulary with ``torch.randint(0, d_vocab,
(samples, length), generator=torch.Generator().manual_seed(seed))``, position 0 replaced by the
BOS token where the model prepends one to its prompts; the clean model runs them (without the
session's interventions) and every head's ``blocks.{l}.attn.hook_pattern`` is read.

The profile over the first n positions (n = ``length``): ``profile[d]`` is the mean over query
positions q = d..n-1 (and over samples) of ``A[q, q - d]``. Offset 0 includes query 0, which
attends to itself only; a large offset has few queries, and with a head that puts its weight on
the first position (``first``) its peak lands at the far offsets.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from transpector.protocol.interventions import MAX_SEED

PositionsMethod = Literal["weights", "random_tokens"]


class QkPositionsArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    method: Literal["auto", "weights", "random_tokens"] = Field(
        default="auto",
        description="weights: from W_pos (learned positions only); random_tokens: measured on "
        "random sequences; auto: weights where the model has a W_pos, else random_tokens",
    )
    length: int | None = Field(
        default=None,
        ge=2,
        le=1_000_000,
        description="Positions profiled (the random sequences' length); default min(64, n_ctx)",
    )
    samples: int = Field(default=8, ge=1, le=10_000, description="Random sequences to average")
    seed: int = Field(default=0, ge=0, le=MAX_SEED, description="Seed of the random tokens")
    norm: bool = Field(
        default=True, description="weights: W_pos through each layer's first norm (ln1)"
    )
    layer: int | None = Field(default=None, description="One layer's heads; default every layer")


class PositionHead(BaseModel):
    """One head's summary, for ranking."""

    node: str = Field(description="L{l}.H{h}")
    layer: int
    head: int
    previous: float = Field(description="Its profile at offset 1: the previous-token score")
    peak_offset: int = Field(description="The offset of its profile's largest value")
    peak: float = Field(description="Its profile's largest value")
    first: float = Field(description="Mean weight on position 0 of queries 1..n-1")


class QkPositionsResult(BaseModel):
    method: PositionsMethod
    length: int = Field(description="n: positions profiled; offsets run 0..n-1")
    samples: int | None = Field(description="Random sequences averaged (random_tokens)")
    seed: int | None
    norm: bool | None = Field(description="Through ln1 (weights)")
    layers: list[int] = Field(description="The layers of profile's first index")
    shape: list[int] = Field(description="[layer, head, offset]")
    profile: list[list[list[float]]] = Field(
        description="[layer][head][offset]: mean attention weight at that offset"
    )
    heads: list[PositionHead] = Field(description="Every head, highest previous-token first")
