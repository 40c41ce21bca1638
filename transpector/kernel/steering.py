"""The Session's steering methods: ``steer`` adds a Steer spec (interventions are data), and
named vectors from cells are kept here for specs to refer to by name.

    session.steer("L3.resid_pre", scale=4.0, positive=["I love it"], negative=["I hate it"])
    session.steer("L3.resid_pre", scale=2.0, neuron="L2.mlp.N5")
    session.steer("L3.resid_pre", scale=2.0, vector=torch.randn(d_model), name="mine")
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch
from pydantic import ValidationError

from transpector.errors import TranspectorError, first_error
from transpector.kernel.interventions import SourceActivations, unit_shape
from transpector.protocol.graph import GraphSpec
from transpector.protocol.interventions import (
    Intervention,
    MeanDiff,
    NamedVector,
    NeuronDirection,
    Steer,
)
from transpector.protocol.state import SessionState


class SteeringMethods:
    """Mixed into Session, which provides the state, the graph, tokens and ``add``."""

    _state: SessionState
    graph: GraphSpec
    _sources: SourceActivations

    def _tokens(self, prompt: str) -> torch.Tensor:
        raise NotImplementedError

    if TYPE_CHECKING:  # from InterventionMethods, later in Session's bases

        def add(self, spec: Intervention) -> Intervention: ...

        def _change(self, op: str, detail: dict[str, Any], **fields: Any) -> None: ...

    @property
    def vectors(self) -> dict[str, torch.Tensor]:
        """The named steering vectors (a copy of the mapping; ``set_vector`` changes it)."""
        return dict(self._sources.vectors)

    def set_vector(self, name: str, vector: Any) -> None:
        """Keep ``vector`` (a tensor from a cell) under ``name`` for Steer specs to use. A name an
        active steer uses keeps its shape."""
        try:
            NamedVector(name=name)
        except ValidationError as error:
            raise TranspectorError(f"vector name: {first_error(error)}") from None
        tensor = _as_vector(vector)
        using = self._steers_using(name)
        for spec in using:
            self._check_shape(spec, tensor)
        self._sources.set_vector(name, tensor)
        if using:  # the runs of the current state change: a new version, so nothing stale shows
            self._change("set_vector", {"name": name})

    def steer(
        self,
        node_id: str,
        scale: float = 1.0,
        *,
        positive: list[str] | None = None,
        negative: list[str] | None = None,
        neuron: str | None = None,
        vector: Any = None,
        name: str | None = None,
        positions: list[int] | None = None,
    ) -> Intervention:
        """Add ``scale`` times a vector to ``node_id`` at ``positions`` (None: every position,
        generated tokens included). The vector is one of: the mean of ``positive`` minus that of
        ``negative`` at the node; ``neuron``'s output direction (a W_out row); ``vector``, a
        tensor (kept as ``name``) or the name of one set with ``set_vector``."""
        given = [
            positive is not None or negative is not None,
            neuron is not None,
            vector is not None,
        ]
        if sum(given) != 1:
            raise TranspectorError(
                "steer: give one source: positive= and negative= prompts, neuron=, or vector="
            )
        if given[0]:
            source: Any = {"kind": "mean_diff", "positive": positive, "negative": negative}
        elif given[1]:
            source = {"kind": "neuron", "neuron": neuron}
        elif isinstance(vector, str):
            source = {"kind": "tensor", "name": vector}
        else:
            source = {"kind": "tensor", "name": name or self._free_name()}
        try:
            spec = Steer(node=node_id, scale=scale, positions=positions, source=source)
        except ValidationError as error:
            raise TranspectorError(f"steer: {first_error(error)}") from None
        if vector is None or isinstance(vector, str):
            return self.add(spec)
        assert isinstance(spec.source, NamedVector)
        tensor = _as_vector(vector)
        self._check_shape(spec, tensor)
        label = spec.source.name
        if label in self._sources.vectors and self._steers_using(label):
            raise TranspectorError(f"steer: a vector named {label!r} is in use; pick another name")
        previous = self._sources.vectors.get(label)
        self._sources.set_vector(label, tensor)
        try:
            return self.add(spec)
        except TranspectorError:
            if previous is None:
                del self._sources.vectors[label]
            else:
                self._sources.set_vector(label, previous)
            raise

    def _check_steer(self, spec: Steer) -> None:
        """A steer's source is usable: its prompts run, its named vector exists with the shape
        the target takes (a neuron's direction is checked by ``plan``)."""
        source = spec.source
        if isinstance(source, MeanDiff):
            for text in (*source.positive, *source.negative):
                self._tokens(text)
        elif isinstance(source, NamedVector):
            if source.name not in self._sources.vectors:
                raise TranspectorError(
                    f"steer: no vector named {source.name!r}; set it with "
                    "session.set_vector(name, tensor)"
                )
            self._check_shape(spec, self._sources.vectors[source.name])
        else:
            assert isinstance(source, NeuronDirection)

    def _check_shape(self, spec: Steer, tensor: torch.Tensor) -> None:
        wanted = unit_shape(spec, self.graph)
        if tuple(tensor.shape) != wanted:
            raise TranspectorError(
                f"steer: the vector has shape {list(tensor.shape)}; {spec.node} takes "
                f"{list(wanted)} per position"
            )

    def _steers_using(self, name: str) -> list[Steer]:
        return [
            spec
            for spec in self._state.interventions
            if isinstance(spec, Steer)
            and isinstance(spec.source, NamedVector)
            and spec.source.name == name
        ]

    def _free_name(self) -> str:
        n = len(self._sources.vectors)
        while f"v{n}" in self._sources.vectors:
            n += 1
        return f"v{n}"


def _as_vector(vector: Any) -> torch.Tensor:
    """A detached float copy of a tensor (or list of numbers), finite, or a clear error."""
    try:
        tensor = torch.as_tensor(vector).detach().clone()
    except (TypeError, ValueError, RuntimeError) as error:
        raise TranspectorError(
            f"steer: a vector is a tensor or a list of numbers: {error}"
        ) from None
    if not tensor.is_floating_point():
        tensor = tensor.float()
    if not bool(torch.isfinite(tensor).all()):
        raise TranspectorError("steer: the vector has inf or nan entries")
    return tensor
