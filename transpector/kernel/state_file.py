"""The session's state file: written whole (a temporary file, then a rename), read back only when
this model can use every part of it, and one it cannot use kept aside, never overwritten."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

from transpector.errors import TranspectorError
from transpector.kernel.interventions import plan
from transpector.kernel.note_targets import check_note_target
from transpector.protocol.graph import GraphSpec
from transpector.protocol.state import SessionState


def write_state(path: Path, state: SessionState) -> None:
    partial = path.with_name(path.name + ".tmp")
    partial.write_text(state.model_dump_json(indent=1))
    partial.replace(path)


def read_state(path: Path, graph: GraphSpec) -> SessionState:
    """The state in ``path``; a TranspectorError when it cannot be read or this model (``graph``)
    cannot use it (another model's, an intervention or a note target it lacks)."""
    try:
        state = SessionState.model_validate(json.loads(path.read_text()))
    except (ValueError, OSError) as error:
        raise TranspectorError(f"cannot read session state {path}: {error}") from error
    if state.model_name and state.model_name != graph.model_name:
        raise TranspectorError(
            f"{path} holds the state of model {state.model_name!r}, not of {graph.model_name!r}"
        )
    for spec in state.interventions:
        plan(spec, graph)
    for target in state.notes:
        check_note_target(graph, target)
    return state


def set_aside(path: Path) -> Path:
    """Move ``path`` to the first free name of ``<name>.corrupt``, ``<name>.corrupt.1``, ..."""
    for n in itertools.count():
        kept = path.with_name(f"{path.name}.corrupt" + (f".{n}" if n else ""))
        if not kept.exists():
            path.replace(kept)
            return kept
    raise AssertionError("unreachable")
