"""Serving the kernel app: on the running kernel loop (attach) or on its own (`transpector serve`).

Inside a kernel, the socket is bound and listening before ``attach`` returns; connections queue in
its backlog until the cell ends and the loop accepts them. The uvicorn server never touches
signal handlers, so interrupting an idle kernel cannot stop it.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvicorn

from transpector.kernel.app import create_app
from transpector.kernel.comm_bridge import register_comm_target
from transpector.kernel.dispatch import Dispatcher
from transpector.kernel.session import Session
from transpector.kernel.sidecar import kernel_connection_file, rename_model, write_sidecar
from transpector.protocol.messages import MAX_TRANSPORT_BYTES


class QuietServer(uvicorn.Server):
    """A uvicorn server that leaves SIGINT and SIGTERM to the kernel."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@dataclass
class Running:
    hub: Dispatcher
    app: Any  # the ASGI app, also called in-process by the comm transport
    url: str
    token: str
    server: QuietServer
    sidecar: Path | None
    loop: asyncio.AbstractEventLoop | None = None  # the kernel's, where the app and hub run
    task: asyncio.Task[None] | None = None


_running: Running | None = None


def listening_socket(host: str = "127.0.0.1", port: int = 0) -> socket.socket:
    """A TCP socket created with IPPROTO_TCP, so uvicorn turns Nagle off (no 40 ms stalls)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)
    sock.setblocking(False)
    return sock


def config_for(app: Any) -> uvicorn.Config:
    return uvicorn.Config(app, lifespan="off", log_level="warning", ws_max_size=MAX_TRANSPORT_BYTES)


def serve_standalone(session: Session, host: str, port: int, token: str) -> None:
    """`transpector serve`: the same app as an HTTP activation server; Ctrl-C stops it."""
    sock = listening_socket(host, port)
    bound = sock.getsockname()[1]
    print(f"Transpector is serving {session.graph.model_name} at http://{host}:{bound}/api/")
    print(f"API docs: http://{host}:{bound}/api/docs   token (send as X-Transpector-Token):")
    print(token, flush=True)
    uvicorn.Server(config_for(create_app(Dispatcher(session), token))).run(sockets=[sock])


def serve_in_kernel(session: Session) -> Running | None:
    """Start (once per kernel) the app for ``session`` on the running loop; None outside one."""
    global _running
    if _running is not None:
        _running.hub.switch(session)
        if _running.sidecar is not None:
            rename_model(_running.sidecar, session.graph.model_name)
        return _running
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return None
    connection_file = kernel_connection_file()
    if connection_file is None:
        return None
    token = secrets.token_urlsafe(32)
    sock = listening_socket()
    host, port = sock.getsockname()[:2]
    hub = Dispatcher(session)
    app = create_app(hub, token)
    server = QuietServer(config_for(app))
    url = f"http://{host}:{port}"
    sidecar = write_sidecar(connection_file, url, token, session.graph.model_name)
    _running = Running(hub, app, url, token, server, sidecar, loop)
    register_comm_target(hub, app, token, loop)
    _running.task = loop.create_task(server.serve(sockets=[sock]))
    return _running
