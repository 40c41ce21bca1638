"""Who may pass the proxy: Jupyter's login on every extension route, XSRF for cookie logins,
the websocket's origin, and the kernel app's own secret behind it."""

from __future__ import annotations

import json
import re
from http.cookies import SimpleCookie
from typing import Any

import pytest
from jupyter_server.serverapp import ServerApp
from tornado import web
from tornado.httpclient import HTTPClientError, HTTPRequest
from tornado.routing import PathMatches
from tornado.websocket import WebSocketClientConnection, WebSocketHandler, websocket_connect

from tests.helpers import receive_until_async as receive
from tests.server.conftest import BASE_URL, JSON, XSRF, Kernel, direct, open_ws


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


async def test_a_token_with_a_foreign_origin_is_accepted_as_jupyters_kernel_channels_do(
    jp_fetch: Any, jp_auth_header: dict[str, str], port: int, kernel: Kernel
) -> None:
    """The README's rule, exactly: a foreign Origin is refused for cookie logins only; a request
    that carries the Jupyter token itself is accepted whatever its Origin (a page elsewhere
    cannot read the token; whoever holds it can run code in the kernel anyway)."""
    ws = await open_ws(port, kernel.id, {**jp_auth_header, "Origin": "http://evil.example"})
    try:
        assert (await receive(ws, "state"))["op"] == "state"
    finally:
        ws.close()
    cookie = await login_cookie(jp_fetch)
    with pytest.raises(HTTPClientError) as refused:
        await open_ws(port, kernel.id, {"Cookie": cookie, "Origin": "http://evil.example"})
    assert refused.value.code == 403


async def test_the_kernel_app_refuses_requests_without_its_secret(kernel: Kernel) -> None:
    assert (await direct(kernel, "/api/graph")).code == 403
    assert (await direct(kernel, "/api/graph", token="wrong")).code == 403
    assert (await direct(kernel, "/api/graph", token=kernel.sidecar()["token"])).code == 200
