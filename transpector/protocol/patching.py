"""Activation patching sweeps: how much of the clean run's metric one clean activation brings back.

Denoising: the corrupt prompt runs with one activation taken from the clean prompt's run, one
patch per cell of the sweep, and the session's metric is read at the last position. A cell's
normalized value is 0 where the patched run scores like the corrupt run and 1 where it scores
like the clean run.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from transpector.protocol.metric import Metric, PromptPair

# What one cell patches: resid_pre / attn_out / mlp_out at one (layer, position); a head's
# output z at every position (head_out) or one (head_out_by_pos); a head's attention pattern;
# a head's query, key or value at every position.
PatchingSweep = Literal[
    "resid_pre", "attn_out", "mlp_out", "head_out", "head_out_by_pos", "head_pattern", "q", "k", "v"
]
# The axes of a sweep's grid. kv_head: a key/value head of grouped-query attention, shared by
# n_heads / n_kv_heads query heads (the k and v sweeps of such a model).
PatchingAxis = Literal["layer", "position", "head", "kv_head"]
Layer = Annotated[int, Field(ge=0, le=4095)]
Position = Annotated[int, Field(ge=-100_000, le=100_000)]
Prompt = Annotated[str, Field(min_length=1, max_length=100_000)]


class PairArgs(BaseModel):
    """A clean/corrupt pair and a metric: the session's pair ``pair`` (default its first), or
    ``clean`` and ``corrupt`` given here (both, and then no ``pair``)."""

    model_config = ConfigDict(extra="forbid")

    pair: int | None = Field(
        default=None, ge=0, le=10_000, description="Index into the session's pairs; default 0"
    )
    clean: Prompt | None = None
    corrupt: Prompt | None = None
    metric: Metric | None = Field(default=None, description="Default: the session's metric")


class PatchingArgs(PairArgs):
    """A sweep on a clean/corrupt pair."""

    sweep: PatchingSweep = "resid_pre"
    layers: list[Layer] | None = Field(
        default=None, max_length=4096, description="Layers to sweep; default every layer"
    )
    positions: list[Position] | None = Field(
        default=None,
        max_length=100_000,
        description="Positions to sweep (negative count from the end), for sweeps with a "
        "position axis; default every position",
    )
    memory_mb: int = Field(
        default=256,
        ge=1,
        le=1_048_576,
        description="Activation memory one batched forward may use: sets the copies per forward",
    )
    copies_per_forward: int | None = Field(
        default=None,
        ge=1,
        le=4096,
        description="Patched copies per forward; default from memory_mb",
    )


class PatchingResult(BaseModel):
    """The sweep's grid, row-major over ``shape`` (axes named by ``axes``): cell
    ``[i, j]`` of a 2-axis sweep is ``values[i * shape[1] + j]``. Layers are ``layers[i]``,
    positions ``positions[j]``, heads 0..n-1."""

    sweep: PatchingSweep
    pair: PromptPair
    axes: list[PatchingAxis]
    shape: list[int]
    layers: list[int]
    positions: list[int] | None = Field(description="The positions swept; None without that axis")
    clean_tokens: list[str]
    corrupt_tokens: list[str]
    hooks: list[str] = Field(description="The hook patched in each swept layer")
    metric: Metric
    metric_label: str = Field(description="What is measured, e.g. p(' Mary')")
    clean_value: float = Field(description="The metric on the clean prompt")
    corrupt_value: float = Field(description="The metric on the corrupt prompt")
    values: list[float] | None = Field(
        description="(raw - corrupt) / (clean - corrupt) per cell: 0 = corrupt, 1 = clean; None "
        "when the clean and corrupt values are equal (see note)"
    )
    raw: list[float] = Field(description="The metric of each patched run")
    forwards: int = Field(description="Batched forwards run")
    copies_per_forward: int = Field(description="The most patched copies one forward ran")
    skipped: int = Field(
        description="Cells whose clean value equals the corrupt run's (e.g. every position "
        "before the first one where the prompts differ): no forward, their value is the "
        "corrupt run's"
    )
    resumed: bool = Field(description="Whether forwards started at the patched layer's block")
    note: str = ""

    def grid(self, raw: bool = False) -> list[list[float]] | list[list[list[float]]]:
        """``values`` (or ``raw``) nested by ``shape``: [layer][...]; a ValueError when there are
        no normalized values (``note`` says why)."""
        flat = self.raw if raw else self.values
        if flat is None:
            raise ValueError(f"no normalized values: {self.note}; ask for grid(raw=True)")
        width = self.shape[-1]
        rows = [flat[r * width : (r + 1) * width] for r in range(len(flat) // width)]
        if len(self.shape) == 2:
            return rows
        return [rows[i * self.shape[1] : (i + 1) * self.shape[1]] for i in range(self.shape[0])]
