"""The Session's state file: save and load (the state and the saved experiments, in one JSON
file), and the start from a state file that this model may not be able to use."""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

from transpector.errors import TranspectorError
from transpector.kernel.experiments import info_of
from transpector.kernel.state_file import read_state, set_aside, write_state
from transpector.protocol.experiments import Experiment
from transpector.protocol.graph import GraphSpec
from transpector.protocol.state import SessionState


class PersistenceMethods:
    """Mixed into Session, which provides the state, the experiments and the change path."""

    _state: SessionState
    _experiments: dict[str, Experiment]
    graph: GraphSpec
    restored: bool

    def _change(self, op: str, detail: dict[str, Any], **fields: Any) -> None:
        raise NotImplementedError

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the state and the saved experiments to ``path`` (JSON)."""
        write_state(Path(path), self._state, list(self._experiments.values()))

    def load(self, path: str | os.PathLike[str]) -> None:
        """Take the state from ``path``, and add its saved experiments whose names are free."""
        restored, experiments = read_state(Path(path), self.graph)
        fields = restored.model_dump(
            exclude={"version", "model_name", "experiments", "placement", "saved_run"}
        )
        bodies = {**{e.name: e for e in experiments}, **self._experiments}
        self._experiments = bodies
        listed = [info_of(e) for e in bodies.values()]
        self._change("load_state", {"path": str(path)}, **fields, experiments=listed)

    def _restore_or_set_aside(self, path: Path) -> None:
        """Start from the state file; one this model cannot use (truncated, corrupt, another
        model's) is renamed to ``<name>.corrupt`` (``.corrupt.1``, ... when that exists: an
        earlier one is never overwritten) with a warning, and the session starts afresh."""
        try:
            state, experiments = read_state(path, self.graph)
            self._experiments = {e.name: e for e in experiments}
            listed = [info_of(e) for e in experiments]
            self._state = state.model_copy(update={"experiments": listed, "saved_run": None})
            self.restored = True
        except TranspectorError as error:
            kept = set_aside(path)
            warnings.warn(f"transpector: starting afresh: {error}; kept it as {kept}", stacklevel=3)
