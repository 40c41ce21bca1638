"""The authenticated proxy through a real Jupyter server to a real kernel's app.

One Jupyter server and one attached kernel serve the whole module (attaching costs ~6 s): the
pytest-jupyter fixtures ``jp_asyncio_loop``, ``jp_serverapp`` and ``jp_base_url`` are overridden
here with module-scoped ones; ``jp_fetch``, ``http_server_client`` and friends are theirs.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import socket
import time
from binascii import hexlify
from collections.abc import Iterator
from dataclasses import dataclass
from http.cookies import SimpleCookie
from pathlib import Path
from types import MappingProxyType
from typing import Any

import jupyter_core.paths
import pytest
from jupyter_client.asynchronous import AsyncKernelClient
from jupyter_core.utils import ensure_event_loop
from jupyter_server.serverapp import ServerApp
from tornado import web
from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest, HTTPResponse
from tornado.httpserver import HTTPServer
from tornado.routing import PathMatches
from tornado.testing import bind_unused_port
from tornado.websocket import WebSocketClientConnection, WebSocketHandler, websocket_connect
from traitlets.config import Config

from tests.conftest import REPO
from tests.live_kernel import ATTACH_TINY

BASE_URL = "/a%40b/"  # an escaped base URL, as pytest-jupyter's default, catches path bugs
KERNEL_STATES = {"starting", "idle", "busy", "restarting", "unknown"}
# Read-only: jp_fetch adds the token to the headers dict it is given (pass dict(JSON)).
JSON = MappingProxyType({"Content-Type": "application/json"})
XSRF = MappingProxyType({"Cookie": "_xsrf=c0ffee", "X-XSRFToken": "c0ffee"})  # a matching pair


# ---- one server and one attached kernel for the module --------------------------------------
@pytest.fixture(scope="module")
def jp_asyncio_loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = ensure_event_loop(prefer_selector_loop=True)
    yield loop
    loop.close()


@pytest.fixture
def jp_server_cleanup() -> Iterator[None]:
    """pytest-jupyter's would shut the shared server down after every test."""
    yield


@pytest.fixture(scope="module")
def jp_base_url() -> str:
    return BASE_URL


@pytest.fixture(scope="module")
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


@pytest.fixture(scope="module")
def kernel(jp_serverapp: ServerApp, jp_asyncio_loop: asyncio.AbstractEventLoop) -> Iterator[Kernel]:
    """The module's kernel with the tiny model attached (``session`` in its namespace)."""

    async def start() -> Kernel:
        started = await start_kernel(jp_serverapp)
        await started.execute(ATTACH_TINY)
        return started

    started = jp_asyncio_loop.run_until_complete(start())
    yield started
    started.client.stop_channels()
    jp_asyncio_loop.run_until_complete(
        jp_serverapp.kernel_manager.shutdown_kernel(started.id, now=True)
    )


@pytest.fixture(scope="module")
def bare_kernel(
    jp_serverapp: ServerApp, jp_asyncio_loop: asyncio.AbstractEventLoop
) -> Iterator[Kernel]:
    """A kernel where transpector.attach never ran."""
    started = jp_asyncio_loop.run_until_complete(start_kernel(jp_serverapp))
    yield started
    started.client.stop_channels()
    jp_asyncio_loop.run_until_complete(
        jp_serverapp.kernel_manager.shutdown_kernel(started.id, now=True)
    )


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
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def api(kernel_id: str, *parts: str) -> tuple[str, ...]:
    return ("transpector", "kernels", kernel_id, "api", *parts)


def ws_url(port: int, kernel_id: str) -> str:
    return f"ws://127.0.0.1:{port}{BASE_URL}transpector/kernels/{kernel_id}/ws"


async def open_ws(port: int, kernel_id: str, headers: dict[str, str]) -> WebSocketClientConnection:
    request = HTTPRequest(ws_url(port, kernel_id), headers=headers, request_timeout=60)
    return await websocket_connect(request, max_message_size=64 << 20)


async def receive(ws: WebSocketClientConnection, op: str, timeout: float = 30) -> dict[str, Any]:
    """The next text frame with this ``op`` (others skipped); AssertionError if the socket
    closes first."""
    deadline = time.monotonic() + timeout
    while True:
        frame = await asyncio.wait_for(ws.read_message(), max(deadline - time.monotonic(), 0.01))
        assert frame is not None, f"closed: {ws.close_code} {ws.close_reason}"
        if isinstance(frame, str) and json.loads(frame)["op"] == op:
            return dict(json.loads(frame))


async def receive_binary(ws: WebSocketClientConnection, timeout: float = 30) -> bytes:
    while True:
        frame = await asyncio.wait_for(ws.read_message(), timeout)
        assert frame is not None, f"closed: {ws.close_code} {ws.close_reason}"
        if isinstance(frame, bytes):
            return frame


async def closed_with(ws: WebSocketClientConnection, timeout: float = 30) -> tuple[list[Any], int]:
    """Every text frame until the server closes, and its close code."""
    frames: list[Any] = []
    while (frame := await asyncio.wait_for(ws.read_message(), timeout)) is not None:
        if isinstance(frame, str):
            frames.append(json.loads(frame))
    assert ws.close_code is not None
    return frames, ws.close_code


async def direct(kernel: Kernel, path: str, token: str | None = None) -> HTTPResponse:
    """Straight to the kernel's app, around the Jupyter server."""
    sidecar = kernel.sidecar()
    headers = {} if token is None else {"X-Transpector-Token": token}
    return await AsyncHTTPClient().fetch(
        sidecar["url"] + path, headers=headers, raise_error=False, request_timeout=60
    )


async def login_cookie(jp_fetch: Any) -> str:
    """Jupyter's login cookie, as a browser holds it after opening the token URL."""
    response = await jp_fetch("api", "status")
    jar: SimpleCookie = SimpleCookie()
    for header in response.headers.get_list("Set-Cookie"):
        jar.load(header)
    assert jar, "the token login set no cookie"
    return "; ".join(f"{name}={morsel.value}" for name, morsel in jar.items())


def extension_routes(app: web.Application) -> dict[str, type]:
    """Every URL pattern under /transpector/ registered in the web app, and its handler."""
    found: dict[str, type] = {}

    def walk(router: Any) -> None:
        for rule in getattr(router, "rules", []):
            matcher = rule.matcher
            if isinstance(matcher, PathMatches) and "/transpector/" in matcher.regex.pattern:
                found[matcher.regex.pattern] = rule.target
            elif not isinstance(rule.target, type):
                walk(rule.target)

    walk(app.default_router)
    return found


def concrete(pattern: str, kernel_id: str) -> str:
    """A URL the pattern matches: the kernel id in ``kernel_id``, ``graph`` in other groups."""
    url = re.sub(r"\(\?P<kernel_id>[^)]*\)", kernel_id, pattern)
    url = re.sub(r"\((\?P<\w+>)?[^)]*\)", "graph", url).removesuffix("$")
    assert re.fullmatch(pattern, url), f"cannot make a URL for {pattern}: update concrete()"
    return url


# ---- tests -------------------------------------------------------------------------------------
async def test_rest_round_trip_through_the_proxy(jp_fetch: Any, kernel: Kernel) -> None:
    graph = await jp_fetch(*api(kernel.id, "graph"))
    assert json.loads(graph.body)["n_layers"] == 2
    assert graph.headers["X-Transpector-Kernel-State"] in KERNEL_STATES

    op = {"op": "set_prompt", "prompt": "through the proxy", "request_id": "r1"}
    changed = await jp_fetch(
        *api(kernel.id, "ops"),
        method="POST",
        body=json.dumps(op),
        headers=dict(JSON),
    )
    assert changed.code == 200 and changed.headers["Content-Type"] == "application/json"
    state = json.loads((await jp_fetch(*api(kernel.id, "state"))).body)["state"]
    assert state["prompts"][state["active"]] == "through the proxy"

    run = await jp_fetch(*api(kernel.id, "run"), method="POST", body="{}", headers=dict(JSON))
    assert json.loads(run.body)["prompt"] == "through the proxy"
    proxied = await jp_fetch(*api(kernel.id, "nodes", "L1.H2", "data"), params={"dtype": "float16"})
    own = await direct(kernel, "/api/nodes/L1.H2/data?dtype=float16", kernel.sidecar()["token"])
    assert own.code == 200 and len(own.body) > 8
    assert proxied.body == own.body
    assert proxied.headers["Content-Type"] == own.headers["Content-Type"]
    assert proxied.headers["Content-Type"] == "application/octet-stream"


async def test_the_api_docs_page_loads_its_scripts_through_the_proxy(
    jp_fetch: Any, kernel: Kernel
) -> None:
    page = await jp_fetch(*api(kernel.id, "docs"))
    assert b"docs-assets/swagger-ui-bundle.js" in page.body
    assert "default-src 'none'" not in page.headers["Content-Security-Policy"]
    script = await jp_fetch(*api(kernel.id, "docs-assets", "swagger-ui-bundle.js"))
    assert script.code == 200 and len(script.body) > 100_000
    spec = json.loads((await jp_fetch(*api(kernel.id, "openapi.json"))).body)
    assert "/api/ops" in spec["paths"]


async def test_websocket_round_trip_through_the_proxy(
    jp_auth_header: dict[str, str], port: int, kernel: Kernel
) -> None:
    ws = await open_ws(port, kernel.id, jp_auth_header)
    try:
        hello = await receive(ws, "state")
        await ws.write_message(
            json.dumps({"op": "set_prompt", "prompt": "by ws", "request_id": "w"})
        )
        changed = await receive(ws, "changed")
        assert changed["version"] == hello["version"] + 1 and changed["request_id"] == "w"
        summary = await receive(ws, "run_summary")
        assert summary["prompt"] == "by ws"
        await ws.write_message(json.dumps({"op": "node_data", "node": "L1.H2", "dtype": "float32"}))
        frame = await receive_binary(ws)
        length = int.from_bytes(frame[:4], "little")
        assert json.loads(frame[4 : 4 + length])["node"] == "L1.H2"
    finally:
        ws.close()


async def test_every_extension_route_refuses_requests_without_jupyter_auth(
    jp_serverapp: ServerApp,
    http_server_client: Any,
    port: int,
    jp_auth_header: dict[str, str],
    kernel: Kernel,
) -> None:
    routes = extension_routes(jp_serverapp.web_app)
    assert len(routes) >= 4, routes  # info, sessions, REST proxy, websocket proxy
    for pattern, handler in routes.items():
        url = concrete(pattern, kernel.id)
        if issubclass(handler, WebSocketHandler):
            with pytest.raises(HTTPClientError) as refused:
                await open_ws_at(port, url, {})
            assert refused.value.code == 403, url
            (await open_ws_at(port, url, jp_auth_header)).close()  # the login suffices
            continue
        methods = [
            m
            for m in ("GET", "POST", "PUT", "DELETE", "PATCH")
            if getattr(handler, m.lower()) is not getattr(web.RequestHandler, m.lower())
        ]
        assert methods, f"{pattern}: no HTTP method"
        for method in methods:
            body = b"{}" if method in ("POST", "PUT", "PATCH") else None
            answer = await http_server_client.fetch(
                url,
                method=method,
                body=body,
                headers=dict(XSRF),  # so that only the missing login can refuse it
                raise_error=False,
                follow_redirects=False,
                allow_nonstandard_methods=True,
            )
            assert answer.code == 403, f"{method} {url} answered {answer.code} without login"
        with_login = await http_server_client.fetch(url, headers=jp_auth_header, raise_error=False)
        assert with_login.code != 403, f"GET {url} refused even with the login"


async def open_ws_at(port: int, path: str, headers: dict[str, str]) -> WebSocketClientConnection:
    request = HTTPRequest(f"ws://127.0.0.1:{port}{path}", headers=headers, request_timeout=60)
    return await websocket_connect(request)


async def test_a_cookie_authenticated_post_needs_xsrf(
    jp_fetch: Any, http_server_client: Any, kernel: Kernel
) -> None:
    cookie = await login_cookie(jp_fetch)
    url = f"{BASE_URL}transpector/kernels/{kernel.id}/api/ops"
    body = json.dumps({"op": "ping", "request_id": "x"})
    refused = await http_server_client.fetch(
        url, method="POST", body=body, headers={"Cookie": cookie, **JSON}, raise_error=False
    )
    assert refused.code == 403
    with_xsrf = {"Cookie": f"{cookie}; _xsrf=c0ffee", "X-XSRFToken": "c0ffee", **JSON}
    accepted = await http_server_client.fetch(
        url, method="POST", body=body, headers=with_xsrf, raise_error=False
    )
    assert accepted.code == 200, accepted.body
    assert json.loads(accepted.body)["op"] == "pong"


async def test_a_websocket_from_a_foreign_origin_is_refused(
    jp_fetch: Any, port: int, kernel: Kernel
) -> None:
    cookie = await login_cookie(jp_fetch)
    with pytest.raises(HTTPClientError) as refused:
        await open_ws(port, kernel.id, {"Cookie": cookie, "Origin": "http://evil.example"})
    assert refused.value.code == 403
    same_origin = {"Cookie": cookie, "Origin": f"http://127.0.0.1:{port}"}
    ws = await open_ws(port, kernel.id, same_origin)
    try:
        assert (await receive(ws, "state"))["op"] == "state"
    finally:
        ws.close()


async def test_the_kernel_app_refuses_requests_without_its_secret(kernel: Kernel) -> None:
    assert (await direct(kernel, "/api/graph")).code == 403
    assert (await direct(kernel, "/api/graph", token="wrong")).code == 403
    assert (await direct(kernel, "/api/graph", token=kernel.sidecar()["token"])).code == 200


async def test_a_kernel_without_a_session_answers_503_with_the_attach_hint(
    jp_fetch: Any, jp_auth_header: dict[str, str], port: int, bare_kernel: Kernel
) -> None:
    answer = await jp_fetch(*api(bare_kernel.id, "graph"), raise_error=False)
    assert answer.code == 503
    assert json.loads(answer.body) == {
        "message": "no Transpector session in this kernel: "
        "run transpector.attach(model) in the notebook"
    }
    assert answer.headers["X-Transpector-Kernel-State"] in KERNEL_STATES
    ws = await open_ws(port, bare_kernel.id, jp_auth_header)
    frames, code = await closed_with(ws)
    assert code == 1013 and "transpector.attach(model)" in (ws.close_reason or "")
    assert frames[0]["op"] == "error" and "transpector.attach" in frames[0]["message"]


async def test_an_unknown_kernel_answers_404(
    jp_fetch: Any, jp_auth_header: dict[str, str], port: int
) -> None:
    unknown = "00000000-0000-0000-0000-000000000000"
    answer = await jp_fetch(*api(unknown, "graph"), raise_error=False)
    assert answer.code == 404
    assert json.loads(answer.body) == {"message": f"no running kernel with id '{unknown}'"}
    with pytest.raises(HTTPClientError) as refused:
        await open_ws(port, unknown, jp_auth_header)
    assert refused.value.code == 404


async def test_sessions_lists_every_kernel_and_whether_it_is_attached(
    jp_fetch: Any, kernel: Kernel, bare_kernel: Kernel
) -> None:
    sessions = {
        s["kernel_id"]: s for s in json.loads((await jp_fetch("transpector", "sessions")).body)
    }
    assert sessions[kernel.id]["attached"] is True
    assert sessions[kernel.id]["protocol_version"] == kernel.sidecar()["protocol_version"]
    assert sessions[kernel.id]["name"] == "python3"
    assert sessions[bare_kernel.id] == {
        "kernel_id": bare_kernel.id,
        "name": "python3",
        "execution_state": sessions[bare_kernel.id]["execution_state"],
        "attached": False,
        "protocol_version": None,
    }
    assert sessions[bare_kernel.id]["execution_state"] in KERNEL_STATES


async def test_malformed_json_gets_a_4xx_and_the_websocket_survives_an_unknown_op(
    jp_fetch: Any, jp_auth_header: dict[str, str], port: int, kernel: Kernel
) -> None:
    bad = await jp_fetch(
        *api(kernel.id, "ops"),
        method="POST",
        body="{not json",
        headers=dict(JSON),
        raise_error=False,
    )
    assert 400 <= bad.code < 500, bad.code
    assert json.loads(bad.body)  # the app's JSON explanation, passed through
    ws = await open_ws(port, kernel.id, jp_auth_header)
    try:
        await receive(ws, "state")
        await ws.write_message(json.dumps({"op": "explode", "request_id": "u"}))
        assert (await receive(ws, "error"))["code"] == "unknown_op"
        await ws.write_message(bytes(12 << 20), binary=True)  # over tornado's 10 MiB default
        assert (await receive(ws, "error"))["code"] == "bad_request"  # the app's answer
        await ws.write_message(json.dumps({"op": "ping", "request_id": "p"}))
        assert (await receive(ws, "pong"))["request_id"] == "p"
    finally:
        ws.close()


class Echo(web.RequestHandler):
    """Stands in for a kernel app: records what reaches it, answers odd status and bytes."""

    seen: list[dict[str, Any]] = []  # noqa: RUF012

    def prepare(self) -> None:
        request = self.request
        Echo.seen.append(
            {
                "method": request.method,
                "uri": request.uri,
                "headers": {k.lower(): v for k, v in request.headers.get_all()},
                "body": request.body,
            }
        )
        if request.path.endswith("/moved"):
            self.redirect(f"http://{request.host}/api/graph", status=307)
            return
        self.set_status(201)
        self.set_header("Content-Type", "application/x-test")
        self.finish(bytes(range(256)))


async def test_the_proxy_forwards_the_request_and_strips_jupyter_credentials(
    jp_fetch: Any, bare_kernel: Kernel
) -> None:
    echo_socket, echo_port = bind_unused_port()
    echo = HTTPServer(web.Application([(r"/.*", Echo)]))
    echo.add_sockets([echo_socket])
    sidecar = {"url": f"http://127.0.0.1:{echo_port}", "token": "s3cret", "pid": os.getpid()}
    bare_kernel.sidecar_path.write_text(json.dumps(sidecar))
    try:
        answer = await jp_fetch(
            *api(bare_kernel.id, "ops"),
            method="PATCH",
            params={"a": "1", "b": "x y"},
            body=b"\x00raw\xff",
            headers={
                "Content-Type": "application/x-raw",
                "Cookie": "username-x=secret; _xsrf=abc",
                "X-XSRFToken": "abc",
                "X-Transpector-Token": "forged",
                "Connection": "keep-alive, X-Hop",
                "X-Hop": "1",
                "X-Kept": "2",
            },
            raise_error=False,
        )
        moved = await jp_fetch(
            *api(bare_kernel.id, "moved"), raise_error=False, follow_redirects=False
        )
    finally:
        bare_kernel.sidecar_path.unlink()
        echo.stop()
    assert answer.code == 201 and answer.body == bytes(range(256))
    assert answer.headers["Content-Type"] == "application/x-test"
    assert answer.headers["X-Transpector-Kernel-State"] in KERNEL_STATES
    seen = Echo.seen[0]
    assert seen["method"] == "PATCH" and seen["uri"] == "/api/ops?a=1&b=x+y"
    assert seen["body"] == b"\x00raw\xff"
    assert seen["headers"]["content-type"] == "application/x-raw"
    assert seen["headers"]["x-transpector-token"] == "s3cret"
    assert seen["headers"]["x-kept"] == "2"
    for stripped in ("cookie", "authorization", "x-xsrftoken", "x-hop"):
        assert stripped not in seen["headers"], stripped
    assert "x-hop" not in seen["headers"].get("connection", "").lower()
    assert moved.code == 307
    assert moved.headers["Location"] == f"{BASE_URL}transpector/kernels/{bare_kernel.id}/api/graph"


async def test_a_request_during_a_blocking_cell_is_answered_when_the_cell_ends(
    jp_fetch: Any, kernel: Kernel
) -> None:
    msg_id = kernel.client.execute("import time; time.sleep(3)")
    while True:  # wait until the kernel runs the cell
        msg = await kernel.client.get_iopub_msg(timeout=30)
        if msg["parent_header"].get("msg_id") == msg_id and msg["msg_type"] == "execute_input":
            break
    started = time.monotonic()
    answer = await jp_fetch(*api(kernel.id, "state"), request_timeout=60)
    waited = time.monotonic() - started
    assert answer.code == 200 and json.loads(answer.body)["op"] == "state"
    assert waited > 1.5, f"answered after {waited:.1f} s: the cell did not block the app?"
    assert answer.headers["X-Transpector-Kernel-State"] in KERNEL_STATES
    reply = await kernel.client.get_shell_msg(timeout=30)
    assert reply["parent_header"]["msg_id"] == msg_id and reply["content"]["status"] == "ok"


async def test_after_a_restart_the_proxy_answers_503_until_attach_runs_again(
    jp_fetch: Any, jp_auth_header: dict[str, str], port: int, kernel: Kernel
) -> None:
    before = kernel.sidecar()
    watching = await open_ws(port, kernel.id, jp_auth_header)
    await receive(watching, "state")
    await jp_fetch("api", "kernels", kernel.id, "restart", method="POST", body="")
    await kernel.client.wait_for_ready(timeout=60)
    frames, code = await closed_with(watching)  # the open canvas hears why
    assert code == 1013 and frames[-1]["op"] == "error" and "gone" in frames[-1]["message"]

    answer = await jp_fetch(*api(kernel.id, "graph"), raise_error=False)
    assert answer.code == 503, answer.body
    assert "transpector.attach(model)" in json.loads(answer.body)["message"]

    # A sidecar the old kernel left behind: its pid is dead, then (our pid) its port is closed.
    for pid in (before["pid"], os.getpid()):
        kernel.sidecar_path.write_text(json.dumps(dict(before, pid=pid)))
        stale = await jp_fetch(*api(kernel.id, "graph"), raise_error=False)
        assert stale.code == 503, (pid, stale.body)
        message = json.loads(stale.body)["message"]
        assert "gone" in message and "transpector.attach(model)" in message
        ws = await open_ws(port, kernel.id, jp_auth_header)
        frames, code = await closed_with(ws)
        assert code == 1013 and frames[0]["op"] == "error" and "gone" in frames[0]["message"]

    await kernel.execute(ATTACH_TINY)
    graph = await jp_fetch(*api(kernel.id, "graph"))
    assert json.loads(graph.body)["n_layers"] == 2
    assert kernel.sidecar()["url"] != before["url"] or kernel.sidecar()["pid"] != before["pid"]
