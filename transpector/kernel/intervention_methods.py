"""The Session's intervention methods: each builds a spec (interventions are data) and adds it
through ``add`` / ``add_many``, which check it against the model, the prompt and the references
before the one versioned change."""

from __future__ import annotations

import uuid
import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import torch
from pydantic import ValidationError

from transpector.errors import TranspectorError, first_error
from transpector.kernel.interventions import check_references, check_source_length, plan
from transpector.kernel.targets import check_positions
from transpector.protocol.graph import GraphSpec
from transpector.protocol.interventions import (
    Ablate,
    AblationMethod,
    EditFact,
    Freeze,
    Intervention,
    Isolate,
    Latent,
    Patch,
    Steer,
)
from transpector.protocol.state import SessionState

Spec = TypeVar("Spec", Ablate, Isolate, Freeze, Patch)


class InterventionMethods:
    """Mixed into Session, which provides the state, the graph and the one change path."""

    _state: SessionState
    graph: GraphSpec
    prompt: str

    def _tokens(self, prompt: str) -> torch.Tensor:
        raise NotImplementedError

    def _change(self, op: str, detail: dict[str, Any], **fields: Any) -> None:
        raise NotImplementedError

    if TYPE_CHECKING:  # from the other mixins of Session

        def _check_steer(self, spec: Steer) -> None: ...

        def _check_latent(self, spec: Latent, n_pos: int) -> None: ...

        def _check_edit(self, spec: EditFact) -> None: ...

    def ablate(
        self,
        node_id: str,
        method: AblationMethod = "zero",
        positions: list[int] | None = None,
        seed: int = 0,
        *,
        kind: AblationMethod | None = None,
    ) -> Intervention:
        """Ablate ``node_id``: ``method`` is "zero", "mean" or "resample" (``kind=`` is its old,
        deprecated name)."""
        method = _renamed(kind, method)
        return self.add(_spec(Ablate, node=node_id, method=method, positions=positions, seed=seed))

    def isolate(
        self,
        node_id: str,
        method: AblationMethod = "zero",
        positions: list[int] | None = None,
        *,
        kind: AblationMethod | None = None,
    ) -> Intervention:
        """Ablate every other head of ``node_id``'s layer."""
        method = _renamed(kind, method)
        return self.add(_spec(Isolate, node=node_id, method=method, positions=positions))

    def freeze(self, node_id: str, positions: list[int] | None = None) -> Intervention:
        """Keep ``node_id``'s value from a run of the current prompt, whatever prompt follows."""
        return self.add(_spec(Freeze, node=node_id, positions=positions, prompt=self.prompt))

    def patch(
        self,
        source: str,
        target: str,
        source_prompt: str | None = None,
        positions: list[int] | None = None,
    ) -> Intervention:
        """Copy ``source``'s activation on ``source_prompt`` (default: the current prompt) into
        ``target`` when the session's prompt runs."""
        spec = _spec(
            Patch,
            node=target,
            source=source,
            source_prompt=self.prompt if source_prompt is None else source_prompt,
            positions=positions,
        )
        return self.add(spec)

    def remove(self, intervention_id: str) -> None:
        kept = [i for i in self._state.interventions if i.id != intervention_id]
        if len(kept) == len(self._state.interventions):
            raise TranspectorError(f"no intervention with id '{intervention_id}'")
        self._change("remove_intervention", {"id": intervention_id}, interventions=kept)

    def clear(self) -> None:
        self._change("clear_interventions", {}, interventions=[])

    def add(self, spec: Intervention) -> Intervention:
        """Add an intervention spec; it gets an id when it has none. The helpers above call this."""
        (spec,) = self._checked([spec])
        added = [*self._state.interventions, spec]
        self._change("add_intervention", {"intervention": spec.model_dump()}, interventions=added)
        return spec

    def add_many(self, specs: Sequence[Intervention]) -> list[Intervention]:
        """Add several interventions in one change (one version, one run): all, or none when any
        of them is refused."""
        if not specs:
            raise TranspectorError("no interventions to add")
        checked = self._checked(specs)
        dumped = [spec.model_dump() for spec in checked]
        added = [*self._state.interventions, *checked]
        self._change("add_interventions", {"interventions": dumped}, interventions=added)
        return checked

    def _checked(self, specs: Sequence[Intervention]) -> list[Intervention]:
        """``specs`` with ids, each checked against the model, the prompt and the references."""
        n_pos = int(self._tokens(self.prompt).shape[1])
        taken = {i.id for i in self._state.interventions}
        checked = []
        for spec in specs:
            if not spec.id:
                spec = spec.model_copy(update={"id": _new_id()})
            if spec.id in taken:
                raise TranspectorError(f"an intervention with id {spec.id!r} exists already")
            taken.add(spec.id)
            plan(spec, self.graph)
            check_references([spec], self._state.reference_prompts)
            check_positions(spec.positions, n_pos, spec.node)
            if isinstance(spec, Patch | Freeze):
                self._check_source(spec, n_pos)
            if isinstance(spec, Steer):
                self._check_steer(spec)
            if isinstance(spec, Latent):
                self._check_latent(spec, n_pos)
            if isinstance(spec, EditFact):
                self._check_edit(spec)
            checked.append(spec)
        return checked

    def _check_source(self, spec: Patch | Freeze, n_pos: int) -> None:
        """The prompt a patch copies from, or a freeze keeps, is usable and has the positions."""
        source = spec.source_prompt if isinstance(spec, Patch) else spec.prompt
        what = (
            f"{spec.kind} of {spec.node}: its {'source ' if isinstance(spec, Patch) else ''}prompt"
        )
        try:
            source_len = int(self._tokens(source).shape[1])
            check_positions(spec.positions, source_len, spec.node)
        except TranspectorError as error:
            raise TranspectorError(f"{what}: {error}") from None
        check_source_length(source_len, n_pos, spec.positions)


def _new_id() -> str:
    return uuid.uuid4().hex[:8]


def _spec(kind: type[Spec], **fields: Any) -> Spec:
    """An intervention spec made in a cell; a TranspectorError that says what is wrong."""
    try:
        return kind(**fields)
    except ValidationError as error:
        raise TranspectorError(f"{kind.__name__.lower()}: {first_error(error)}") from None


def _renamed(old: AblationMethod | None, new: AblationMethod) -> AblationMethod:
    if old is None:
        return new
    warnings.warn("kind= is deprecated: pass method=", DeprecationWarning, stacklevel=3)
    return old
