"""Tools called from a cell: ``session.tools.<name>(...)`` and the progress bar of long ones."""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel

from transpector.kernel.tools import TOOLS, tool_named
from transpector.kernel.tools.base import Step

Result = TypeVar("Result")

if TYPE_CHECKING:
    from transpector.kernel.session import Session


def drive(steps: Generator[Step, None, Result]) -> Result:
    """Run a long tool's steps to the end in a cell, with a progress bar."""
    from tqdm import tqdm

    bar = None
    try:
        while True:
            step = next(steps)
            if bar is None:
                bar = tqdm(total=step.total, leave=False)
            bar.n, bar.total = step.done, step.total
            bar.set_description(step.label[:40], refresh=True)
    except StopIteration as end:
        result: Result = end.value
        return result
    finally:
        if bar is not None:
            bar.close()


class ToolMethods:
    """``session.tools.<name>(**args)``: every registered tool as a method of the session."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def __getattr__(self, name: str) -> Callable[..., BaseModel]:
        if name.startswith("_"):
            raise AttributeError(name)
        contract = tool_named(name).contract

        def call(prompt: str | None = None, **args: Any) -> BaseModel:
            return self._session.call(name, prompt=prompt, **args)

        call.__name__ = name
        call.__doc__ = (
            f"{contract.summary}. Args: {contract.args.__name__}; "
            f"returns {contract.result.__name__}."
        )
        return call

    def __dir__(self) -> list[str]:
        return [tool.name for tool in TOOLS]
