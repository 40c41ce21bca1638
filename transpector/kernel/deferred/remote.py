"""``session.trace(..., remote="local")``: nnsight's own remote round trip, in this process.

nnsight's ``LocalSimulationBackend`` serializes the trace as ``RemoteBackend`` would for a
server, deserializes it with every module that is not installed on a server hidden (torch,
transformers, nnsight, numpy stay), and runs the deserialized block on the model here. A server
does not have Transpector: the envoy and tracer classes of the request travel by value
(``cloudpickle.register_pickle_by_value``, what ``nnsight.register`` does), for the round trip
only.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import cloudpickle
from nnsight.intervention.backends.local import LocalSimulationBackend

import transpector


@contextmanager
def transpector_by_value() -> Iterator[None]:
    """Transpector's classes and functions pickled by value (their source travels) while a
    request is serialized; as it was afterwards."""
    registered = "transpector" in cloudpickle.list_registry_pickle_by_value()
    if not registered:
        cloudpickle.register_pickle_by_value(transpector)
    try:
        yield
    finally:
        if not registered:
            cloudpickle.unregister_pickle_by_value(transpector)


class LocalRoundTrip(LocalSimulationBackend):  # type: ignore[misc]
    def __call__(self, tracer: Any) -> None:
        with transpector_by_value():
            super().__call__(tracer)
