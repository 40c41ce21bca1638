"""The hook inspector's rows: every hook function on the live model."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class HookInfo(BaseModel):
    hook_point: str
    function: str
    direction: Literal["fwd", "bwd"]
    owned: bool  # added by Transpector
    permanent: bool


class CacheInfo(BaseModel):
    """A cache of the kernel: its size, its budget (least recently used entries go first)."""

    name: str
    bytes: int
    budget_bytes: int
    entries: int
    evictions: int = Field(description="Entries evicted to stay within the budget so far")


class KernelAppInfo(BaseModel):
    """What ``GET /api/info`` says about the session."""

    model_name: str
    session_id: str
    protocol_version: int
    caches: list[CacheInfo]
