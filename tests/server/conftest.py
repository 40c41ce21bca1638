"""One Jupyter server (with only this extension) and two of its kernels for every test under
tests/server: the pytest-jupyter fixtures ``jp_asyncio_loop``, ``jp_serverapp`` and
``jp_base_url`` are overridden here with package-scoped ones (attaching a kernel costs ~6 s);
``jp_fetch``, ``http_server_client`` and friends are theirs.

Package, not session, scope: pytest-jupyter's autouse function-scoped ``jp_asyncio_loop`` and
``jp_server_cleanup`` in any later test elsewhere would reuse this loop and server singleton,
then close the loop and clean the server up under us.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import textwrap
from binascii import hexlify
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

import jupyter_core.paths
import pytest
from jupyter_client.asynchronous import AsyncKernelClient
from jupyter_core.utils import ensure_event_loop
from jupyter_server.serverapp import ServerApp
from tornado.httpclient import AsyncHTTPClient, HTTPRequest, HTTPResponse
from tornado.websocket import WebSocketClientConnection, websocket_connect
from traitlets.config import Config

from tests.conftest import REPO
from tests.helpers import free_port
from tests.live_kernel import ATTACH_TINY

BASE_URL = "/a%40b/"  # an escaped base URL, as pytest-jupyter's default, catches path bugs
KERNEL_STATES = {"starting", "idle", "busy", "restarting", "unknown"}
# Read-only: jp_fetch adds the token to the headers dict it is given (pass dict(JSON)).
JSON = MappingProxyType({"Content-Type": "application/json"})
XSRF = MappingProxyType({"Cookie": "_xsrf=c0ffee", "X-XSRFToken": "c0ffee"})  # a matching pair


# ---- one server and its kernels for the package -------------------------------------------------
@pytest.fixture(scope="package")
def jp_asyncio_loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = ensure_event_loop(prefer_selector_loop=True)
    yield loop
    loop.close()


@pytest.fixture
def jp_server_cleanup() -> Iterator[None]:
    """pytest-jupyter's would shut the shared server down after every test."""
    yield


@pytest.fixture(scope="package")
def jp_base_url() -> str:
    return BASE_URL


@pytest.fixture(scope="package")
def jp_serverapp(
    jp_asyncio_loop: asyncio.AbstractEventLoop, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerApp]:
    """A Jupyter server with only this extension, in private dirs (as pytest-jupyter's)."""
    tmp = tmp_path_factory.mktemp("jupyter")
    dirs = {name: tmp / name for name in ("home", "config", "data", "runtime", "root", "sys")}
    for folder in dirs.values():
        folder.mkdir()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HOME", str(dirs["home"]))
        patch.setenv("JUPYTER_CONFIG_DIR", str(dirs["config"]))
        patch.setenv("JUPYTER_DATA_DIR", str(dirs["data"]))
        patch.setenv("JUPYTER_RUNTIME_DIR", str(dirs["runtime"]))
        for name in ("SYSTEM_JUPYTER_PATH", "ENV_JUPYTER_PATH"):
            patch.setattr(jupyter_core.paths, name, [str(dirs["sys"])])
        for name in ("SYSTEM_CONFIG_PATH", "ENV_CONFIG_PATH"):
            patch.setattr(jupyter_core.paths, name, [str(dirs["sys"])])
        config = Config({"ServerApp": {"jpserver_extensions": {"transpector": True}}})
        config.IdentityProvider.token = hexlify(os.urandom(8)).decode()
        ServerApp.clear_instance()
        app = ServerApp.instance(
            port=free_port(),
            port_retries=0,
            open_browser=False,
            base_url=BASE_URL,
            config=config,
            allow_root=True,
            root_dir=str(dirs["root"]),
        )
        app.init_signal = lambda: None  # type: ignore[method-assign]

        async def initialize() -> None:
            app.initialize(argv=[], new_httpserver=False)

        jp_asyncio_loop.run_until_complete(initialize())
        app.start_app()
        yield app
        jp_asyncio_loop.run_until_complete(app._cleanup())
        app.kernel_manager.context.destroy()
        ServerApp.clear_instance()


@dataclass
class Kernel:
    """A kernel started by the server's own kernel manager, driven by a jupyter_client client."""

    id: str
    connection_file: Path
    client: AsyncKernelClient

    @property
    def sidecar_path(self) -> Path:
        return self.connection_file.parent / f"transpector-{self.id}.json"

    def sidecar(self) -> dict[str, Any]:
        return dict(json.loads(self.sidecar_path.read_text()))

    async def execute(self, code: str, timeout: float = 120) -> None:
        errors: list[str] = []

        def on_output(msg: dict[str, Any]) -> None:
            if msg["msg_type"] == "error":
                errors.append("\n".join(msg["content"]["traceback"]))

        reply = await self.client.execute_interactive(code, timeout=timeout, output_hook=on_output)
        assert reply["content"]["status"] == "ok", "\n".join(errors)


async def start_kernel(app: ServerApp) -> Kernel:
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(REPO), HF_HUB_OFFLINE="1")
    kernel_id = await app.kernel_manager.start_kernel(kernel_name="python3", env=env)
    connection_file = Path(app.kernel_manager.get_kernel(kernel_id).connection_file)
    client = AsyncKernelClient()
    client.load_connection_file(str(connection_file))
    client.start_channels()
    await client.wait_for_ready(timeout=60)
    return Kernel(kernel_id, connection_file, client)


def shut_down(app: ServerApp, loop: asyncio.AbstractEventLoop, kernel: Kernel) -> None:
    kernel.client.stop_channels()
    loop.run_until_complete(app.kernel_manager.shutdown_kernel(kernel.id, now=True))


@pytest.fixture(scope="package")
def attached_kernel(
    jp_serverapp: ServerApp, jp_asyncio_loop: asyncio.AbstractEventLoop
) -> Iterator[Kernel]:
    """The package's kernel with the tiny model attached (``session`` in its namespace)."""

    async def start() -> Kernel:
        started = await start_kernel(jp_serverapp)
        await started.execute(ATTACH_TINY)
        return started

    started = jp_asyncio_loop.run_until_complete(start())
    yield started
    shut_down(jp_serverapp, jp_asyncio_loop, started)


# Attaches again after a restart, then puts the session state saved before the test back.
RESTORE = "if 'session' not in globals():{attach}\ntranspector.attach(model).load({path!r})"


@pytest.fixture
def kernel(
    attached_kernel: Kernel, jp_asyncio_loop: asyncio.AbstractEventLoop, tmp_path: Path
) -> Iterator[Kernel]:
    """The shared attached kernel; whatever a test does to it (prompts, interventions, a
    restart, a long cell) is undone afterwards, pass or fail."""
    saved = str(tmp_path / "session-before.json")
    jp_asyncio_loop.run_until_complete(attached_kernel.execute(f"session.save({saved!r})"))
    try:
        yield attached_kernel
    finally:

        async def restore() -> None:
            await attached_kernel.client.wait_for_ready(timeout=60)
            attach = textwrap.indent(ATTACH_TINY, "    ")
            await attached_kernel.execute(RESTORE.format(attach=attach, path=saved))

        jp_asyncio_loop.run_until_complete(restore())


@pytest.fixture(scope="package")
def bare_kernel(
    jp_serverapp: ServerApp, jp_asyncio_loop: asyncio.AbstractEventLoop
) -> Iterator[Kernel]:
    """A kernel where transpector.attach never ran."""
    started = jp_asyncio_loop.run_until_complete(start_kernel(jp_serverapp))
    yield started
    shut_down(jp_serverapp, jp_asyncio_loop, started)


@pytest.fixture
def jp_http_port(http_server_port: tuple[socket.socket, int]) -> int:
    """pytest-jupyter's closes the socket before ``http_server`` stops (which then fails) unless
    the server app depends on it, as its function-scoped one does; ``http_server`` closes it."""
    return http_server_port[-1]


@pytest.fixture
def port(http_server: Any, jp_http_port: int) -> int:
    """The port of this test's HTTP server (jp_http_port alone has no server behind it)."""
    return jp_http_port


# ---- helpers ------------------------------------------------------------------------------------
def api(kernel_id: str, *parts: str) -> tuple[str, ...]:
    return ("transpector", "kernels", kernel_id, "api", *parts)


def ws_url(port: int, kernel_id: str) -> str:
    return f"ws://127.0.0.1:{port}{BASE_URL}transpector/kernels/{kernel_id}/ws"


async def open_ws(port: int, kernel_id: str, headers: dict[str, str]) -> WebSocketClientConnection:
    request = HTTPRequest(ws_url(port, kernel_id), headers=headers, request_timeout=60)
    return await websocket_connect(request, max_message_size=64 << 20)


async def direct(kernel: Kernel, path: str, token: str | None = None) -> HTTPResponse:
    """Straight to the kernel's app, around the Jupyter server."""
    sidecar = kernel.sidecar()
    headers = {} if token is None else {"X-Transpector-Token": token}
    return await AsyncHTTPClient().fetch(
        sidecar["url"] + path, headers=headers, raise_error=False, request_timeout=60
    )
