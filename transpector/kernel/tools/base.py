"""The kernel side of a tool: its contract, the hooks it reads, and how it computes.

A short tool has ``compute(context, args)``: it reads the run context of the session's current
state. A long one has ``steps(session, args)``: a generator that yields ``Step`` progress and
returns the result; when its caller cancels, ``Cancelled`` is thrown in at a yield (the tool
may return a partial result, else the call ends with a ``cancelled`` error).
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from transpector.protocol.graph import GraphSpec
from transpector.protocol.tools import ToolContract

if TYPE_CHECKING:
    from transpector.kernel.run_context import RunContext
    from transpector.kernel.session import Session


@dataclass(frozen=True)
class Step:
    """Progress of a long tool: ``done`` of ``total`` units, and what it is doing."""

    done: int
    total: int
    label: str = ""


class Cancelled(Exception):
    """Thrown into a long tool's steps when its caller cancels it."""


Steps = Generator[Step, None, BaseModel]
Parts = Generator[None, None, BaseModel]  # a compute that yields between parts of its work


def run_parts(parts: Parts) -> BaseModel:
    """A compute in parts, run to its end."""
    while True:
        try:
            next(parts)
        except StopIteration as end:
            result: BaseModel = end.value
            return result


def _no_hooks(graph: GraphSpec) -> list[str]:
    return []


@dataclass(frozen=True)
class Tool:
    contract: ToolContract
    compute: Callable[[RunContext, Any], BaseModel] | None = None
    steps: Callable[[Session, Any], Steps] | None = None
    hooks: Callable[[GraphSpec], list[str]] = _no_hooks  # what it reads from every run
    # Optional: ``compute`` in parts, so an after-run tool can give way to a newer edit.
    parts: Callable[[RunContext, Any], Parts] | None = None

    @property
    def name(self) -> str:
        return self.contract.name
