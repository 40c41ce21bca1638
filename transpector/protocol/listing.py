"""What the Jupyter server extension itself answers: its version and the kernels it sees."""

from __future__ import annotations

from pydantic import BaseModel


class KernelInfo(BaseModel):
    id: str
    name: str
    execution_state: str


class ServerInfo(BaseModel):
    """GET /transpector/info."""

    version: str
    kernels: list[KernelInfo]


class KernelSession(BaseModel):
    """One entry of GET /transpector/sessions: a running kernel and whether it has a live
    Transpector session (a sidecar whose process is alive)."""

    kernel_id: str
    name: str
    execution_state: str
    attached: bool
    protocol_version: int | None
    model_name: str | None = None
