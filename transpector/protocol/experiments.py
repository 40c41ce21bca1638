"""Saved experiments: a named snapshot of the research state, the tools last run on it and
their results, the time, and the model and weights it was saved on."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from transpector.protocol.interventions import Intervention
from transpector.protocol.metric import MetricValue
from transpector.protocol.state import ExperimentInfo, ResearchState

# A tool result larger than this (JSON, bytes) is kept as its arguments alone.
MAX_SAVED_RESULT_BYTES = 256 << 10


class SavedToolCall(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tool: str
    args: dict[str, Any]
    state_version: int = Field(description="The session state version it ran at")
    result: dict[str, Any] | None = Field(
        default=None, description="Its result; None when it was over MAX_SAVED_RESULT_BYTES"
    )
    result_bytes: int = Field(description="The result's size as JSON")


class Experiment(ExperimentInfo):
    state: ResearchState
    tools: list[SavedToolCall] = Field(default_factory=list)


class ExperimentDiff(BaseModel):
    """What differs between experiments ``a`` and ``b``: interventions compared by what they do
    (their ids aside), each counted as often as it occurs."""

    a: str
    b: str
    only_in_a: list[Intervention]
    only_in_b: list[Intervention]
    other_fields: list[str] = Field(
        description="Other parts of the state that differ: prompts, active, reference_prompts, "
        "pairs, metric, notes"
    )
    metric_a: MetricValue | None
    metric_b: MetricValue | None
