"""The authenticated proxy from the browser to one kernel's app (loopback + per-kernel secret).

``/transpector/kernels/<kid>/api/<path>`` forwards REST calls; ``/transpector/kernels/<kid>/ws``
relays websocket frames both ways. Jupyter's login (token or cookie + XSRF, Origin checks) guards
both; the kernel's secret never reaches the browser. A request that arrives while a cell blocks
the kernel waits in the kernel's accept queue until the cell ends, so nothing here times out soon.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any, TypeVar, cast

from jupyter_server.auth.decorator import authorized, ws_authenticated
from jupyter_server.base.handlers import APIHandler, JupyterHandler
from jupyter_server.base.websocket import WebSocketMixin
from tornado import web
from tornado.httpclient import HTTPClientError, HTTPRequest
from tornado.httputil import HTTPHeaders
from tornado.simple_httpclient import HTTPTimeoutError, SimpleAsyncHTTPClient
from tornado.websocket import (
    WebSocketClientConnection,
    WebSocketClosedError,
    WebSocketHandler,
    WebSocketProtocol,
    WebSocketProtocol13,
    websocket_connect,
)

from transpector.protocol.messages import MAX_TRANSPORT_BYTES, ErrorCode, error_frame, too_large
from transpector.protocol.sidecar import TOKEN_HEADER
from transpector.server.login import LoginFirst
from transpector.server.sessions import APP_GONE, Backend, Unavailable, find_backend, kernel_state

STATE_HEADER = "X-Transpector-Kernel-State"
REQUEST_TIMEOUT = 3600.0  # a cell may block the kernel (and queue us) for a long time
TIMED_OUT = f"the kernel did not answer within {REQUEST_TIMEOUT:.0f} s (is a cell still running?)"
CONNECT_TIMEOUT = 30.0
MAX_BODY = 256 << 20
MAX_FROM_KERNEL = 256 << 20
KERNEL_ID = r"(?P<kernel_id>[^/]+)"
# Never forwarded: Jupyter's credentials, hop-by-hop headers, and what the client recomputes.
DROPPED_REQUEST_HEADERS = frozenset(
    h.lower()
    for h in (
        "Cookie",
        "Authorization",
        "X-XSRFToken",
        "X-CSRFToken",
        TOKEN_HEADER,
        "Host",
        "Content-Length",
        "Accept-Encoding",
        "Connection",
        "Keep-Alive",
        "Proxy-Authenticate",
        "Proxy-Authorization",
        "Proxy-Connection",
        "TE",
        "Trailer",
        "Transfer-Encoding",
        "Upgrade",
    )
)
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
F = TypeVar("F", bound=Callable[..., Any])


def execute_authorized(method: F) -> F:
    """``@authorized("execute")`` on resource ``auth_resource`` (as jupyter_server's kernel
    websocket); its annotations cannot type the parametrised form."""
    return cast(Callable[[F], F], authorized("execute"))(method)


def _http_client(settings: dict[str, Any]) -> SimpleAsyncHTTPClient:
    """One client per web app, with room for many requests queued behind a busy kernel (the
    simple client always: a globally configured curl client takes other options)."""
    client = settings.get("transpector_http_client")
    if client is None:
        client = SimpleAsyncHTTPClient(
            force_instance=True, max_clients=256, max_body_size=MAX_BODY, max_buffer_size=MAX_BODY
        )
        settings["transpector_http_client"] = client
    return client


class ProxyHandler(LoginFirst, APIHandler):
    """``/transpector/kernels/<kid>/api/<path>``: REST to the kernel's app, answers unchanged."""

    auth_resource = "kernels"

    @property
    def content_security_policy(self) -> str:
        """Jupyter's page policy rather than the API's ``default-src 'none'``, so the kernel
        app's own pages (the API docs) can load their scripts from the same origin."""
        return str(JupyterHandler.content_security_policy.fget(self))  # type: ignore[attr-defined]

    @web.authenticated
    @execute_authorized
    async def _forward(self, kernel_id: str, path: str) -> None:
        try:
            backend = find_backend(self.kernel_manager, kernel_id)
            response = await _http_client(self.settings).fetch(
                self._backend_request(backend), raise_error=False
            )
        except Unavailable as error:
            return self._fail(kernel_id, error.status, error.message, error.code)
        except HTTPTimeoutError:
            return self._fail(kernel_id, 504, TIMED_OUT)
        except (OSError, HTTPClientError):  # refused, reset, or closed mid-answer
            return self._fail(kernel_id, 503, APP_GONE)
        self.set_status(response.code, response.reason)
        self.set_header(STATE_HEADER, kernel_state(self.kernel_manager, kernel_id))
        location = response.headers.get("Location")
        if location:
            self.set_header("Location", self._proxied_location(backend, kernel_id, location))
        content_type = response.headers.get("Content-Type", "application/octet-stream")
        if response.code in (204, 304) or not response.body:
            self.finish(set_content_type=content_type)
        else:
            self.finish(response.body, set_content_type=content_type)

    get = post = put = delete = patch = _forward

    def _backend_request(self, backend: Backend) -> HTTPRequest:
        request = self.request
        prefix = f"{self.base_url.rstrip('/')}/transpector/kernels/"
        # The raw path after the kernel id, percent-escapes kept as the browser sent them.
        api_path = request.path[len(prefix) :].split("/", 1)[1]
        url = f"{backend.url}/{api_path}" + (f"?{request.query}" if request.query else "")
        # Headers named in Connection are hop-by-hop too (RFC 9110 7.6.1).
        hop = {h.strip().lower() for h in request.headers.get("Connection", "").split(",")}
        headers = HTTPHeaders()
        for name, value in request.headers.get_all():
            if name.lower() not in DROPPED_REQUEST_HEADERS and name.lower() not in hop:
                headers.add(name, value)
        headers[TOKEN_HEADER] = backend.token
        method = (request.method or "GET").upper()
        body = request.body if request.body or method in _BODY_METHODS else None
        return HTTPRequest(
            url,
            method=method,
            headers=headers,
            body=body,
            follow_redirects=False,
            decompress_response=False,
            allow_nonstandard_methods=True,
            connect_timeout=CONNECT_TIMEOUT,
            request_timeout=REQUEST_TIMEOUT,
        )

    def _proxied_location(self, backend: Backend, kernel_id: str, location: str) -> str:
        if location.startswith(backend.url):
            location = location[len(backend.url) :]
        if location.startswith("/"):
            return f"{self.base_url.rstrip('/')}/transpector/kernels/{kernel_id}{location}"
        return location

    def _fail(
        self, kernel_id: str, status: int, message: str, code: ErrorCode | None = None
    ) -> None:
        self.set_status(status)
        self.set_header(STATE_HEADER, kernel_state(self.kernel_manager, kernel_id))
        self.set_header("Content-Type", "application/json")
        body = error_frame(code, message) if code else _http_error_body(status, message, None)
        self.finish(body)

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        """Jupyter's own refusals (no login, no XSRF, no permission) in the app's error shape."""
        self.set_header("Content-Type", "application/json")
        self.finish(_http_error_body(status_code, self._reason, kwargs.get("exc_info")))


class ProxyWebSocket(LoginFirst, WebSocketMixin, WebSocketHandler, JupyterHandler):
    """``/transpector/kernels/<kid>/ws``: text and binary frames relayed both ways."""

    auth_resource = "kernels"
    kernel_id = ""
    backend: WebSocketClientConnection | None = None
    _relay: asyncio.Task[None] | None = None

    def set_default_headers(self) -> None:
        """No page headers (CSP...) on a websocket, as jupyter_server's kernel websocket."""

    def get_websocket_protocol(self) -> WebSocketProtocol | None:
        protocol = super().get_websocket_protocol()
        if type(protocol) is WebSocketProtocol13:
            protocol.__class__ = _TextFramesChecked
        return protocol

    @property
    def max_message_size(self) -> int:
        return MAX_TRANSPORT_BYTES

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        """A refused handshake answers JSON in the app's error shape, as the REST routes do."""
        self.set_header("Content-Type", "application/json")
        self.finish(_http_error_body(status_code, self._reason, kwargs.get("exc_info")))

    @ws_authenticated
    @execute_authorized
    async def get(self, kernel_id: str) -> None:
        if kernel_id not in self.kernel_manager:
            raise web.HTTPError(404, f"no running kernel with id {kernel_id!r}")
        self.kernel_id = kernel_id
        await super().get(kernel_id)

    async def open(self, kernel_id: str) -> None:
        self.set_nodelay(True)
        try:
            backend = find_backend(self.kernel_manager, kernel_id)
            request = HTTPRequest(
                backend.url.replace("http://", "ws://", 1) + "/ws",
                headers={TOKEN_HEADER: backend.token},
                connect_timeout=CONNECT_TIMEOUT,
                request_timeout=REQUEST_TIMEOUT,
            )
            self.backend = await websocket_connect(request, max_message_size=MAX_FROM_KERNEL)
        except Unavailable as error:
            return self._refuse(1013, error.message)
        except HTTPTimeoutError:
            return self._refuse(1013, TIMED_OUT)
        except (OSError, HTTPClientError, WebSocketClosedError):
            return self._refuse(1013, APP_GONE)
        if self.ws_connection is None:  # the browser left while we connected
            self.backend.close()
            return None
        if self.backend.protocol is not None:
            self.backend.protocol.set_nodelay(True)
        # Pings to the browser start only now: while the kernel is busy, open() may wait long.
        super().open()
        self._relay = asyncio.get_running_loop().create_task(self._relay_from_kernel())
        return None

    async def on_message(self, message: str | bytes) -> None:
        """Browser -> kernel. Awaiting the write is the back-pressure."""
        if self.backend is None:
            return
        oversized = too_large(message)
        if oversized:  # refused here as the app would: the connection stays
            self.write_message(_error_frame(oversized, "too_large"))
            return
        # If the kernel side closed, _relay_from_kernel closes the browser side.
        with contextlib.suppress(WebSocketClosedError):
            await self.backend.write_message(message, binary=isinstance(message, bytes))

    async def _relay_from_kernel(self) -> None:
        backend = self.backend
        assert backend is not None
        while True:
            message = await backend.read_message()
            if message is None:
                break
            try:
                await self.write_message(message, binary=isinstance(message, bytes))
            except WebSocketClosedError:
                backend.close()
                return
        code = backend.close_code
        if code is None or code in (1005, 1006, 1015):  # dropped: kernel restarted or died
            self._refuse(1013, APP_GONE)
        else:  # the app closed on purpose: pass its code and reason on
            self.close(code, backend.close_reason)

    def on_close(self) -> None:
        """Browser closed: close the kernel side too."""
        if self.backend is not None:
            code = self.close_code if self.close_code in (1000, 1001) else 1000
            self.backend.close(code, self.close_reason)

    def _refuse(self, code: int, message: str) -> None:
        """A JSON ``error`` frame saying why, then close with ``code`` and a short reason."""
        if self.ws_connection is None:
            return
        try:
            self.write_message(_error_frame(message))
        except WebSocketClosedError:
            return
        self.close(code, message.encode()[:123].decode(errors="ignore"))


class _TextFramesChecked(WebSocketProtocol13):
    """A text frame that is not UTF-8 gets a ``bad_request`` error and the connection stays
    (DESIGN invariant 7), where tornado would drop the connection without a word. The proxy
    negotiates no compression, so a frame's bytes are checked as they arrived."""

    def _handle_message(self, opcode: int, data: bytes) -> asyncio.Future[None] | None:
        if opcode == 0x1 and not self._frame_compressed and not data.isascii():
            try:
                data.decode("utf-8")
            except UnicodeDecodeError as error:
                with contextlib.suppress(WebSocketClosedError):
                    message = f"a text frame that is not UTF-8: {error}"
                    handler = cast(WebSocketHandler, self.handler)
                    handler.write_message(_error_frame(message, "bad_request"))
                return None
        return super()._handle_message(opcode, data)


_HTTP_CODES: dict[int, ErrorCode] = {403: "forbidden", 404: "not_found", 502: "unavailable",
                                     503: "unavailable", 504: "unavailable"}  # fmt: skip


def _http_error_body(status: int, reason: str, exc_info: Any) -> str:
    """``{"op": "error", "code", "message"}`` for an HTTP error of the proxy itself."""
    error = exc_info[1] if exc_info else None
    message = getattr(error, "log_message", None) or reason
    return error_frame(
        _HTTP_CODES.get(status, "internal" if status >= 500 else "bad_request"), message
    )


def _error_frame(message: str, code: ErrorCode = "unavailable") -> str:
    return error_frame(code, message)


def proxy_handlers(base_url: str) -> list[tuple[str, Any]]:
    base = base_url.rstrip("/")
    return [
        (f"{base}/transpector/kernels/{KERNEL_ID}/api/(?P<path>.*)", ProxyHandler),
        (f"{base}/transpector/kernels/{KERNEL_ID}/ws", ProxyWebSocket),
    ]
