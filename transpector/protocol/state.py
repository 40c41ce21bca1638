"""The session state every viewer shares; ``version`` grows by one on every accepted change."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from transpector.protocol.interventions import Intervention
from transpector.protocol.metric import Metric, MetricValue, PromptPair, TopProb
from transpector.protocol.placement import Placement
from transpector.protocol.saved_run import SavedRunInfo

DEFAULT_PROMPT = "The capital of France is"
MAX_EXPERIMENT_NAME = 80
# A name is printable text: no control characters, not only spaces.
EXPERIMENT_NAME_PATTERN = r"^[^\x00-\x1f\x7f]*[^\s\x00-\x1f\x7f][^\x00-\x1f\x7f]*$"
ExperimentName = Annotated[
    str, Field(min_length=1, max_length=MAX_EXPERIMENT_NAME, pattern=EXPERIMENT_NAME_PATTERN)
]


class ResearchState(BaseModel):
    """What a researcher sets up: prompts, pairs, metric, interventions and notes (a saved
    experiment keeps exactly this)."""

    model_config = ConfigDict(extra="forbid")

    prompts: list[str] = Field(default_factory=lambda: [DEFAULT_PROMPT])
    active: int = Field(default=0, description="Index of the prompt that runs show")
    reference_prompts: list[str] = Field(
        default_factory=list, description="Baseline batch for mean and resample ablation"
    )
    pairs: list[PromptPair] = Field(
        default_factory=list, description="Clean/corrupt prompt pairs, for patching"
    )
    metric: Metric = Field(default_factory=TopProb, description="What runs are scored by")
    interventions: list[Intervention] = Field(default_factory=list)
    notes: dict[str, str] = Field(
        default_factory=dict,
        description="Note target (a node id, pos:P, lens:ROW@P, sweep:KIND:CELL) -> Markdown text",
    )


class ExperimentInfo(BaseModel):
    """A saved experiment as listed: its name, when and on what it was saved, and its metric."""

    model_config = ConfigDict(extra="forbid")

    name: ExperimentName
    saved_at: str = Field(description="ISO 8601 time, UTC")
    model_name: str
    weights: str = Field(description="sha256 of the model's weights (names, shapes, bytes)")
    state_version: int = Field(description="The session state version it was saved at")
    metric: MetricValue | None = Field(
        default=None, description="The metric of the intervened run on the active prompt"
    )
    n_interventions: int = 0


class SessionState(ResearchState):
    version: int = 0
    model_name: str = ""
    experiments: list[ExperimentInfo] = Field(
        default_factory=list,
        description="Saved experiments, oldest first (bodies: GET experiments)",
    )
    placement: Placement = Field(
        default_factory=Placement, description="The live model's devices and dtype"
    )
    saved_run: SavedRunInfo | None = Field(
        default=None, description="The saved run the canvas shows (session.show_saved); not kept"
    )
