"""Attribution patching: an activation patching sweep estimated to first order from gradients.

For each cell, the change of the metric that patching the clean activation into the corrupt run
would bring is estimated as (clean activation - corrupt activation) . d metric / d activation,
the gradient taken on the corrupt run: one forward and one backward of the corrupt prompt and
one forward of the clean prompt for the whole sweep. The grid is laid out like activation
patching's; with ``compare`` the real sweep runs too, and the two are correlated.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from transpector.protocol.metric import Metric, PromptPair
from transpector.protocol.patching import PatchingArgs, PatchingAxis, PatchingResult, PatchingSweep


class AttributionArgs(PatchingArgs):
    """The sweep to estimate, as activation patching's args (``memory_mb`` and
    ``copies_per_forward`` apply to the real sweep of ``compare``)."""

    compare: bool = Field(
        default=False,
        description="Also run the real activation patching sweep, and correlate the two",
    )


class AttributionResult(BaseModel):
    """The estimated grid, row-major over ``shape`` as activation patching's: cell ``[i, j]`` of
    a 2-axis sweep is ``values[i * shape[1] + j]``."""

    sweep: PatchingSweep
    pair: PromptPair
    axes: list[PatchingAxis]
    shape: list[int]
    layers: list[int]
    positions: list[int] | None = Field(description="The positions swept; None without that axis")
    clean_tokens: list[str]
    corrupt_tokens: list[str]
    hooks: list[str] = Field(description="The hook of each swept layer")
    metric: Metric
    metric_label: str = Field(description="What is measured, e.g. p(' Mary')")
    clean_value: float = Field(description="The metric on the clean prompt")
    corrupt_value: float = Field(description="The metric on the corrupt prompt")
    values: list[float] | None = Field(
        description="raw / (clean - corrupt) per cell: the estimate of activation patching's "
        "normalized value (0 = corrupt, 1 = clean); None when the clean and corrupt values are "
        "equal (see note)"
    )
    raw: list[float] = Field(
        description="The estimated change of the metric per cell: (clean - corrupt activation) "
        ". gradient of the metric on the corrupt run"
    )
    real: PatchingResult | None = Field(
        description="With compare: the real activation patching sweep; else None"
    )
    correlation: float | None = Field(
        description="With compare: Pearson's r between the estimated and the real values over "
        "every cell (None without compare, or when either grid is constant)",
    )
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
