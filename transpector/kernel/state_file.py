"""The session's state file: written whole (a temporary file, then a rename), read back only when
this model can use every part of it, and one it cannot use kept aside, never overwritten."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

from pydantic import Field

from transpector.errors import TranspectorError
from transpector.kernel.interventions import plan
from transpector.kernel.note_targets import check_note_target
from transpector.protocol.experiments import Experiment
from transpector.protocol.graph import GraphSpec
from transpector.protocol.state import ResearchState, SessionState


class StateFile(SessionState):
    """What the file holds: the state, and the saved experiments in full."""

    saved_experiments: list[Experiment] = Field(default_factory=list)


def write_state(path: Path, state: SessionState, experiments: list[Experiment]) -> None:
    whole = StateFile(**dict(state), saved_experiments=experiments)
    partial = path.with_name(path.name + ".tmp")
    partial.write_text(whole.model_dump_json(indent=1))
    partial.replace(path)


def read_state(path: Path, graph: GraphSpec) -> tuple[SessionState, list[Experiment]]:
    """The state in ``path`` and its saved experiments; a TranspectorError when it cannot be read
    or this model (``graph``) cannot use it (another model's, an intervention or a note target it
    lacks). Experiments saved on other models are kept: restoring one says why it cannot."""
    try:
        whole = StateFile.model_validate(json.loads(path.read_text()))
    except (ValueError, OSError) as error:
        raise TranspectorError(f"cannot read session state {path}: {error}") from error
    if whole.model_name and whole.model_name != graph.model_name:
        raise TranspectorError(
            f"{path} holds the state of model {whole.model_name!r}, not of {graph.model_name!r}"
        )
    check_usable(whole, graph)
    state = SessionState.model_validate(whole.model_dump(exclude={"saved_experiments"}))
    return state, whole.saved_experiments


def check_usable(state: ResearchState, graph: GraphSpec) -> None:
    """A TranspectorError unless this model can use every intervention and note target."""
    for spec in state.interventions:
        plan(spec, graph)
    for target in state.notes:
        check_note_target(graph, target)


def set_aside(path: Path) -> Path:
    """Move ``path`` to the first free name of ``<name>.corrupt``, ``<name>.corrupt.1``, ..."""
    for n in itertools.count():
        kept = path.with_name(f"{path.name}.corrupt" + (f".{n}" if n else ""))
        if not kept.exists():
            path.replace(kept)
            return kept
    raise AssertionError("unreachable")
