"""The session state every viewer shares; ``version`` grows by one on every accepted change."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from transpector.protocol.interventions import Intervention
from transpector.protocol.metric import Metric, PromptPair, TopProb

DEFAULT_PROMPT = "The capital of France is"


class SessionState(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: int = 0
    model_name: str = ""
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
