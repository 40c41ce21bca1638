"""The hook inspector's rows: every hook function on the live model."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel


class HookInfo(BaseModel):
    hook_point: str
    function: str
    direction: Literal["fwd", "bwd"]
    owned: bool  # added by Transpector
    permanent: bool
