"""Auth walk: every route of the Jupyter server extension and every route of the kernel app,
times every HTTP method, times no and wrong credentials, is refused; so are both websocket
handshakes. The routes come from the running code (the extension's handlers list, the kernel
app's ``app.routes`` and its OpenAPI document), so a new route is walked without editing this.

tests/server/test_proxy_auth.py checks that the extension's routes want Jupyter's login (the
methods each handler implements, the proxy at one path); here the proxy is walked at every path
of the kernel app, with every method, and the kernel app's own port and ``/ws`` are walked too.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from jupyter_server.base.handlers import APIHandler
from jupyter_server.serverapp import ServerApp
from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest, HTTPResponse
from tornado.websocket import WebSocketHandler, websocket_connect

from tests.helpers import receive_until_async as receive
from tests.server.conftest import BASE_URL, XSRF, Kernel, direct
from tests.server.test_proxy_auth import extension_routes
from transpector.server.handlers import handlers

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
BODY_METHODS = ("POST", "PUT", "PATCH")
# A body that would change the session if it got through (POST /api/ops takes it).
WRITE = json.dumps({"op": "set_note", "node": "L0.H1", "text": "the auth walk got through"})
NODE = "L0.H1"

# The kernel app's routes as it holds them: (path, methods or [] for any, kind).
ROUTES_CELL = """
import json
from starlette.routing import Mount, Route, WebSocketRoute
from transpector.kernel import serving
found = []
for route in serving._running.server.config.app.routes:
    kind = type(route).__name__
    methods = sorted(getattr(route, "methods", None) or [])
    found.append([route.path, methods, kind])
print(json.dumps(found))
"""


async def cell_stdout(kernel: Kernel, code: str) -> str:
    out: list[str] = []

    def on_output(msg: dict[str, Any]) -> None:
        if msg["msg_type"] == "stream" and msg["content"]["name"] == "stdout":
            out.append(msg["content"]["text"])

    reply = await kernel.client.execute_interactive(code, timeout=60, output_hook=on_output)
    assert reply["content"]["status"] == "ok", reply["content"]
    return "".join(out)


def concrete_app_path(path: str, kind: str) -> str:
    """A URL path the kernel app routes to ``path``: ``{node_id}`` and friends get a node id, a
    mount gets a file under it."""
    url = re.sub(r"\{[^}]+\}", NODE, path)
    return url.rstrip("/") + "/swagger-ui.css" if kind == "Mount" else url


async def kernel_app_paths(kernel: Kernel) -> list[str]:
    """Every path the kernel app serves: its ``app.routes`` (mounts, websockets and pages left
    out of the schema included), checked to cover its OpenAPI document fetched with the token."""
    routes = json.loads((await cell_stdout(kernel, ROUTES_CELL)).strip().splitlines()[-1])
    paths = {route[0] for route in routes}
    openapi = await direct(kernel, "/api/openapi.json", token=kernel.sidecar()["token"])
    assert openapi.code == 200, openapi.body
    documented = set(json.loads(openapi.body)["paths"])
    assert documented <= paths, documented - paths
    assert {"/ws", "/api/ops", "/api/state", "/api/openapi.json"} <= paths, paths
    assert sum(p.startswith("/api/tools/") for p in paths) >= 10, paths
    return sorted(concrete_app_path(path, kind) for path, _, kind in routes)


async def fetch(url: str, method: str, headers: dict[str, str]) -> HTTPResponse:
    return await AsyncHTTPClient().fetch(
        url,
        method=method,
        headers=headers,
        body=WRITE if method in BODY_METHODS else None,
        raise_error=False,
        follow_redirects=False,
        allow_nonstandard_methods=True,
        request_timeout=60,
    )


async def version(kernel: Kernel) -> int:
    answer = await direct(kernel, "/api/state", token=kernel.sidecar()["token"])
    return int(json.loads(answer.body)["version"])


def jupyter_pattern_url(pattern: str, kernel_id: str, path: str) -> str:
    url = re.sub(r"\(\?P<kernel_id>[^)]*\)", kernel_id, pattern)
    url = re.sub(r"\(\?P<path>[^)]*\)", path.lstrip("/"), url).removesuffix("$")
    assert re.fullmatch(pattern, url), f"cannot make a URL for {pattern} with {path}"
    return url


def preflight_only(handler: type, method: str, answer: HTTPResponse) -> bool:
    """jupyter_server answers OPTIONS on an API route without login, by design: it is the CORS
    preflight, which browsers send without credentials. It must say nothing but CORS headers."""
    return (
        method == "OPTIONS"
        and issubclass(handler, APIHandler)
        and answer.code in (200, 204)
        and not answer.body
        and "X-Transpector-Kernel-State" not in answer.headers
    )


async def test_every_route_every_method_refuses_missing_and_wrong_credentials(
    jp_serverapp: ServerApp, port: int, jp_auth_header: dict[str, str], kernel: Kernel
) -> None:
    sidecar = kernel.sidecar()
    app_paths = await kernel_app_paths(kernel)
    before = await version(kernel)
    requests = 0

    # ---- the kernel app's own port: 403 with the error shape, whatever the method ----
    wrong_app = {
        "none": {},
        "wrong token": {"X-Transpector-Token": "wrong"},
        "wrong bearer": {"Authorization": "Bearer wrong"},
        "token prefix": {"X-Transpector-Token": sidecar["token"][:-1]},
        "Jupyter's token": dict(jp_auth_header),
    }
    for path in app_paths:
        for method in METHODS:
            for label, headers in wrong_app.items():
                answer = await fetch(sidecar["url"] + path, method, dict(headers))
                requests += 1
                where = f"{method} {path} ({label}) on the kernel app"
                assert answer.code == 403, f"{where}: {answer.code} {answer.body[:200]!r}"
                if method != "HEAD":
                    assert json.loads(answer.body)["code"] == "forbidden", where
        # and the walk is not vacuous: with the token, the same path is not refused
        answer = await fetch(
            sidecar["url"] + path, "GET", {"X-Transpector-Token": sidecar["token"]}
        )
        assert answer.code != 403, f"GET {path} refused with the token"

    # ---- every route the extension registers, the proxy at every kernel app path ----
    base_url = jp_serverapp.web_app.settings["base_url"]
    registered = extension_routes(jp_serverapp.web_app)
    routes = handlers(base_url)
    assert len(routes) >= 4, routes
    wrong_jupyter = {
        "none": dict(XSRF),  # a matching XSRF pair, so that only the login is missing
        "wrong token": {"Authorization": "token wrong", **XSRF},
        "wrong cookie": {
            "Cookie": "username-127-0-0-1=forged; _xsrf=c0ffee",
            "X-XSRFToken": "c0ffee",
        },
        "kernel secret": {"X-Transpector-Token": sidecar["token"], **XSRF},
    }
    preflights = 0
    passed: list[str] = []
    for pattern, handler in routes:
        anchored = pattern if pattern.endswith("$") else pattern + "$"  # as tornado keeps it
        assert registered.get(anchored) is handler, f"{pattern} is not registered as listed"
        # the REST proxy at every kernel app path under /api/ (the part after .../api/)
        paths = [p[5:] for p in app_paths if p.startswith("/api/")] if "<path>" in pattern else [""]
        kernel_ids = [kernel.id, "no-such-kernel"] if "kernel_id" in pattern else [kernel.id]
        for kernel_id in kernel_ids:
            for path in paths:
                url = f"http://127.0.0.1:{port}" + jupyter_pattern_url(pattern, kernel_id, path)
                for method in METHODS:
                    for label, headers in wrong_jupyter.items():
                        answer = await fetch(url, method, dict(headers))
                        requests += 1
                        if preflight_only(handler, method, answer):
                            preflights += 1
                            continue
                        if answer.code not in (401, 403):
                            passed.append(f"{method} {url} ({label}): {answer.code}")
        if not issubclass(handler, WebSocketHandler):  # its handshake is walked below
            url = f"http://127.0.0.1:{port}" + jupyter_pattern_url(pattern, kernel.id, "state")
            answer = await fetch(url, "GET", dict(jp_auth_header))
            assert answer.code == 200, f"GET {url} refused with the login: {answer.code}"

    assert not passed, f"{len(passed)} not refused:\n" + "\n".join(passed)
    assert await version(kernel) == before, "a refused request changed the session"
    print(f"\nauth walk: {requests} HTTP requests refused ({preflights} of them CORS preflights)")
    api_paths = sum(p.startswith("/api/") for p in app_paths)
    # the kernel app's paths; info, sessions; the proxy at each /api/ path and the websocket
    # route, both for the kernel and for an unknown kernel id
    expected = len(app_paths) * len(wrong_app) + (2 + 2 * api_paths + 2) * len(wrong_jupyter)
    assert requests == expected * len(METHODS) and len(app_paths) >= 25, (requests, app_paths)


async def handshake(url: str, headers: dict[str, str]) -> Any:
    request = HTTPRequest(url, headers=headers, request_timeout=30)
    return await websocket_connect(request)


async def assert_refused(url: str, headers: dict[str, str], status: int) -> None:
    """The handshake itself is refused with ``status`` (no upgrade, so no frame can follow)."""
    with pytest.raises(HTTPClientError) as refused:
        (await handshake(url, headers)).close()
    assert refused.value.code == status, f"{url} {headers}: {refused.value.code}"


async def test_both_websocket_handshakes_refuse_missing_and_wrong_credentials(
    port: int, jp_auth_header: dict[str, str], kernel: Kernel
) -> None:
    sidecar = kernel.sidecar()
    proxy = f"ws://127.0.0.1:{port}{jupyter_pattern_url(ws_pattern(), kernel.id, '')}"
    app = sidecar["url"].replace("http://", "ws://") + "/ws"
    jupyter_token = jp_auth_header["Authorization"].split()[-1]
    tried = 0
    for headers in (
        {},
        {"Authorization": "token wrong"},
        {"Cookie": "username-127-0-0-1=forged"},
        {"X-Transpector-Token": sidecar["token"]},  # the kernel's secret is not a Jupyter login
    ):
        await assert_refused(proxy, headers, 403)
        tried += 1
    await assert_refused(proxy + "?token=wrong", {}, 403)
    await assert_refused(proxy.replace(kernel.id, "no-such-kernel"), {}, 403)
    tried += 2
    for headers in (
        {},
        {"X-Transpector-Token": "wrong"},
        {"Authorization": "Bearer wrong"},
        {"X-Transpector-Token": sidecar["token"][:-1]},
        {"Authorization": f"token {jupyter_token}"},  # Jupyter's login is not the kernel's secret
    ):
        await assert_refused(app, headers, 403)
        tried += 1
    # the walk can fail: the right credentials open both
    for url, headers in ((proxy, jp_auth_header), (app, {"X-Transpector-Token": sidecar["token"]})):
        ws = await handshake(url, headers)
        try:
            assert (await receive(ws, "state"))["op"] == "state"
        finally:
            ws.close()
    print(f"\nwebsocket handshakes refused: {tried}")
    assert tried == 11


def ws_pattern() -> str:
    (pattern,) = [p for p, h in handlers(BASE_URL) if issubclass(h, WebSocketHandler)]
    return pattern
