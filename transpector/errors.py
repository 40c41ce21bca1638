"""The one error type Transpector raises for bad input; it never imports torch."""

from __future__ import annotations

from pydantic import ValidationError


class TranspectorError(Exception):
    """A problem the user can fix; the message says how."""


def first_error(error: ValidationError) -> str:
    """The first problem pydantic found, as ``where: what``."""
    first = error.errors()[0]
    where = ".".join(str(p) for p in first["loc"])
    return f"{where}: {first['msg']}" if where else str(first["msg"])
