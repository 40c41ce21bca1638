"""Which kernels have a Transpector session, and where their app listens.

``transpector.attach(model)`` writes ``transpector-<kernel_id>.json`` (url, token, pid) beside the
kernel's connection file; the server reads it here. No torch, no ``transpector.kernel``.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jupyter_core.utils import ensure_async
from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import APIHandler
from tornado import web

from transpector.protocol.listing import KernelSession
from transpector.protocol.messages import ErrorCode
from transpector.protocol.sidecar import Sidecar, kernel_id_of, sidecar_name
from transpector.server.login import LoginFirst

NO_SESSION = "no Transpector session in this kernel: run transpector.attach(model) in the notebook"
APP_GONE = (
    "the Transpector app of this kernel is gone (was the kernel restarted?): "
    "run transpector.attach(model) in the notebook again"
)
BAD_SIDECAR = (
    "the Transpector sidecar file of this kernel is unreadable: "
    "run transpector.attach(model) in the notebook again"
)
NOT_LOCAL = "this kernel has no local connection file (remote kernel?): Transpector cannot reach it"
LOOPBACK_URL = re.compile(r"http://(127\.0\.0\.1|localhost|\[::1\]):[0-9]{1,5}")


class Unavailable(Exception):
    """The kernel's app cannot be reached: answered as ``status`` with a JSON ``message`` and
    error ``code`` (by default the one the status gives)."""

    def __init__(self, status: int, message: str, code: ErrorCode | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code


@dataclass(frozen=True)
class Backend:
    """Where one kernel's app listens, and the secret it wants."""

    url: str
    token: str
    pid: int | None
    protocol_version: int | None
    model_name: str | None = None


def kernel_state(kernel_manager: Any, kernel_id: str) -> str:
    """The kernel's execution state as the kernel manager tracks it (busy, idle, ...)."""
    if kernel_id not in kernel_manager:
        return "unknown"
    return str(getattr(kernel_manager.get_kernel(kernel_id), "execution_state", "unknown"))


def sidecar_path(kernel_manager: Any, kernel_id: str) -> Path:
    """``transpector-<id>.json`` beside the kernel's connection file ``kernel-<id>.json``.

    Raises Unavailable(404) for an unknown kernel, Unavailable(503) for a non-local one."""
    if kernel_id not in kernel_manager:
        raise Unavailable(404, f"no running kernel with id {kernel_id!r}")
    connection_file = getattr(kernel_manager.get_kernel(kernel_id), "connection_file", "")
    if not connection_file:
        raise Unavailable(503, NOT_LOCAL, "unreachable")
    path = Path(connection_file)
    return path.parent / sidecar_name(kernel_id_of(path.name, kernel_id))


def read_sidecar(path: Path) -> Sidecar | None:
    """The sidecar's fields, or None when there is none."""
    try:
        return Sidecar.model_validate_json(path.read_bytes())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as error:  # pydantic's ValidationError is a ValueError
        raise Unavailable(503, BAD_SIDECAR) from error


def pid_alive(pid: int | None) -> bool:
    if pid is None:
        return True  # cannot tell: let the connection attempt decide
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def find_backend(kernel_manager: Any, kernel_id: str) -> Backend:
    """The kernel's app, or Unavailable: 404 unknown kernel, 503 not attached or app gone."""
    sidecar = read_sidecar(sidecar_path(kernel_manager, kernel_id))
    if sidecar is None:
        raise Unavailable(503, NO_SESSION)
    if not LOOPBACK_URL.fullmatch(sidecar.url):
        raise Unavailable(503, BAD_SIDECAR)  # only ever proxy to this machine's loopback
    if not pid_alive(sidecar.pid):
        raise Unavailable(503, APP_GONE)
    return Backend(
        sidecar.url, sidecar.token, sidecar.pid, sidecar.protocol_version, sidecar.model_name
    )


async def running_kernels(kernel_manager: Any) -> list[dict[str, Any]]:
    """The kernel models; a gateway's kernel manager lists them asynchronously."""
    models: list[dict[str, Any]] = await ensure_async(kernel_manager.list_kernels())
    return models


def session_of(kernel_manager: Any, model: dict[str, Any]) -> KernelSession:
    kernel_id = model["id"]
    try:
        backend: Backend | None = find_backend(kernel_manager, kernel_id)
    except Unavailable:
        backend = None
    return KernelSession(
        kernel_id=kernel_id,
        name=model.get("name", ""),
        execution_state=model.get("execution_state", "unknown"),
        attached=backend is not None,
        protocol_version=backend.protocol_version if backend else None,
        model_name=backend.model_name if backend else None,
    )


class SessionsHandler(LoginFirst, APIHandler):
    """GET /transpector/sessions: every running kernel and whether it has a live session."""

    auth_resource = "kernels"

    @web.authenticated
    @authorized
    async def get(self) -> None:
        models = await running_kernels(self.kernel_manager)
        sessions = [session_of(self.kernel_manager, model).model_dump() for model in models]
        self.finish(json.dumps(sessions))
