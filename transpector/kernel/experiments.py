"""The Session's saved experiments: named snapshots of the research state with the tools last run
on it and their results, restored only onto the model and weights they were saved on, diffed by
what their interventions do. The bodies live in the session (and its state file); the synced
state lists them (``ExperimentInfo``)."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, TypeAdapter, ValidationError

from transpector.errors import TranspectorError, first_error
from transpector.kernel.run_context import RunContext
from transpector.kernel.state_file import check_usable
from transpector.kernel.tools.metric import metric as metric_of
from transpector.kernel.weights_digest import weights_digest
from transpector.protocol.experiments import (
    MAX_SAVED_RESULT_BYTES,
    Experiment,
    ExperimentDiff,
    SavedToolCall,
)
from transpector.protocol.graph import GraphSpec
from transpector.protocol.interventions import Intervention
from transpector.protocol.metric import MetricArgs
from transpector.protocol.state import ExperimentInfo, ExperimentName, ResearchState, SessionState

RESEARCH_FIELDS = set(ResearchState.model_fields)


@dataclass(frozen=True)
class ToolCall:
    """A tool's latest call: its arguments, its result and the state version it ran at."""

    tool: str
    args: BaseModel
    result: BaseModel
    state_version: int

    def saved(self) -> SavedToolCall:
        """As JSON; a result over MAX_SAVED_RESULT_BYTES keeps only its size."""
        body = self.result.model_dump(mode="json")
        size = len(json.dumps(body))
        return SavedToolCall(
            tool=self.tool,
            args=self.args.model_dump(mode="json"),
            state_version=self.state_version,
            result=body if size <= MAX_SAVED_RESULT_BYTES else None,
            result_bytes=size,
        )


class ExperimentMethods:
    """Mixed into Session, which provides the state, the graph, the model and the change path."""

    _state: SessionState
    _experiments: dict[str, Experiment]
    _tool_log: dict[str, ToolCall]
    graph: GraphSpec
    model: Any

    def _change(self, op: str, detail: dict[str, Any], **fields: Any) -> None:
        raise NotImplementedError

    def context(self, prompt: str | None = None, keep: bool = True) -> RunContext:
        raise NotImplementedError

    @property
    def experiments(self) -> dict[str, Experiment]:
        """Every saved experiment by name, oldest first (copies: change them freely)."""
        return {name: e.model_copy(deep=True) for name, e in self._experiments.items()}

    def save_experiment(self, name: str, overwrite: bool = False) -> ExperimentInfo:
        """Save the state (prompts, pairs, metric, interventions, notes), the tools last run and
        their results, with the time, the model and its weights' sha256. A name that is taken is
        refused unless ``overwrite=True``."""
        name = _checked_name(name)
        if name in self._experiments and not overwrite:
            raise TranspectorError(
                f"an experiment named {name!r} exists: pick another name, or overwrite=True"
            )
        metric = metric_of(self.context(), MetricArgs())  # not a tool call the experiment keeps
        research = ResearchState.model_validate(self._state.model_dump(include=RESEARCH_FIELDS))
        experiment = Experiment(
            name=name,
            saved_at=datetime.now(UTC).isoformat(timespec="seconds"),
            model_name=self.graph.model_name,
            weights=weights_digest(self.model),
            state_version=self._state.version,
            metric=metric.metric,
            n_interventions=len(research.interventions),
            state=research,
            tools=self.saved_tool_calls(),
        )
        kept = {k: v for k, v in self._experiments.items() if k != name}
        self._set_experiments({**kept, name: experiment}, "save_experiment", {"name": name})
        return info_of(experiment)

    def restore_experiment(self, name: str) -> None:
        """Make experiment ``name``'s state the session's; refused when it was saved on another
        model or other weights, or when this model cannot use a part of it."""
        experiment = self._experiment(name)
        if experiment.model_name != self.graph.model_name:
            raise TranspectorError(
                f"experiment {name!r} was saved on model {experiment.model_name!r}, "
                f"not {self.graph.model_name!r}: nothing was restored"
            )
        if experiment.weights != weights_digest(self.model):
            raise TranspectorError(
                f"experiment {name!r} was saved on other weights of {experiment.model_name} "
                f"(sha256 {experiment.weights[:12]}..., these are "
                f"{weights_digest(self.model)[:12]}...): nothing was restored"
            )
        check_usable(experiment.state, self.graph)
        self._change("restore_experiment", {"name": name}, **experiment.state.model_dump())

    def delete_experiment(self, name: str) -> None:
        self._experiment(name)
        kept = {k: v for k, v in self._experiments.items() if k != name}
        self._set_experiments(kept, "delete_experiment", {"name": name})

    def import_experiments(self, experiments: list[Experiment | dict[str, Any]]) -> list[str]:
        """Add saved experiments (from a notebook's metadata, another state file); a name that is
        taken keeps its own. Returns the names added."""
        try:
            parsed = [Experiment.model_validate(e) for e in experiments]
        except ValidationError as error:
            raise TranspectorError(f"an experiment: {first_error(error)}") from None
        added = {e.name: e for e in parsed if e.name not in self._experiments}
        if added:
            self._set_experiments(
                {**self._experiments, **added}, "import_experiments", {"names": list(added)}
            )
        return list(added)

    def diff_experiments(self, a: str, b: str) -> ExperimentDiff:
        """Which interventions differ between experiments ``a`` and ``b`` (compared by what they
        do, ids aside), which other parts of the state differ, and both metrics."""
        first, second = self._experiment(a), self._experiment(b)
        only_a, only_b = _unmatched(first.state.interventions, second.state.interventions)
        fields = RESEARCH_FIELDS - {"interventions"}
        other = [
            f for f in ResearchState.model_fields if f in fields and _differs(first, second, f)
        ]
        return ExperimentDiff(
            a=a, b=b, only_in_a=only_a, only_in_b=only_b, other_fields=other,
            metric_a=first.metric, metric_b=second.metric,
        )  # fmt: skip

    def record_tool(self, tool: str, args: BaseModel, result: BaseModel) -> None:
        """Remember a tool's latest call and result (what a saved experiment keeps); turned
        into JSON only when an experiment is saved or a view exported, not on every call."""
        self._tool_log[tool] = ToolCall(tool, args, result, self._state.version)

    def saved_tool_calls(self) -> list[SavedToolCall]:
        """Each tool's latest call and result as saved experiments and exports keep them."""
        return [call.saved() for call in self._tool_log.values()]

    def _experiment(self, name: str) -> Experiment:
        if name not in self._experiments:
            known = ", ".join(repr(n) for n in self._experiments) or "none"
            raise TranspectorError(f"no experiment named {name!r} (saved: {known})")
        return self._experiments[name]

    def _set_experiments(
        self, bodies: dict[str, Experiment], op: str, detail: dict[str, Any]
    ) -> None:
        previous = self._experiments
        self._experiments = bodies
        try:
            self._change(op, detail, experiments=[info_of(e) for e in bodies.values()])
        except Exception:
            self._experiments = previous
            raise


_INFO_FIELDS = set(ExperimentInfo.model_fields)
_NAME: TypeAdapter[str] = TypeAdapter(ExperimentName)


def info_of(experiment: Experiment) -> ExperimentInfo:
    return ExperimentInfo.model_validate(experiment.model_dump(include=_INFO_FIELDS))


def _checked_name(name: object) -> str:
    try:
        return _NAME.validate_python(name)
    except ValidationError as error:
        raise TranspectorError(f"experiment name: {first_error(error)}") from None


def _unmatched(
    a: list[Intervention], b: list[Intervention]
) -> tuple[list[Intervention], list[Intervention]]:
    def key(spec: Intervention) -> str:
        return json.dumps(spec.model_dump(mode="json", exclude={"id"}), sort_keys=True)

    left, right = Counter(map(key, a)), Counter(map(key, b))
    only_a, only_b = left - right, right - left
    return _take(a, only_a, key), _take(b, only_b, key)


def _take(specs: list[Intervention], counts: Counter[str], key: Any) -> list[Intervention]:
    taken: list[Intervention] = []
    remaining = Counter(counts)
    for spec in specs:
        if remaining[key(spec)] > 0:
            remaining[key(spec)] -= 1
            taken.append(spec)
    return taken


def _differs(a: Experiment, b: Experiment, field: str) -> bool:
    return bool(getattr(a.state, field) != getattr(b.state, field))
