"""The kernel app over a Jupyter comm (a notebook widget's, or any front end's): the same
protocol messages as the websocket, binary frames included, and the app's REST reads answered
in-process. A second transport for the same Dispatcher, for front ends that cannot reach the
kernel app's port (VS Code, Colab, a kernel on another host).

Messages from the front end: ``{"kind": "connect"}`` (a client joins: the state comes back),
``{"kind": "op", "text": <a client message>}``, ``{"kind": "get", "id": n, "method": "GET",
"path": "graph"}``, ``{"kind": "disconnect"}``. To the front end: ``{"kind": "frame", "text":
...}`` or ``{"kind": "frame"}`` with the binary frame as its one buffer, and ``{"kind":
"reply", "id": n, "status": ..., "type": <content type>}`` with the body as its one buffer (or,
without buffers, either one as base64 in ``"b64"``).
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote

from transpector.kernel.dispatch import Client, Dispatcher
from transpector.protocol.sidecar import TOKEN_HEADER

Send = Callable[[dict[str, Any], list[bytes]], None]
METHODS = ("GET", "DELETE")
COMM_TARGET = "transpector"  # the canvas opens a comm to it when the proxy cannot reach the app


class CommBridge:
    """``loop`` is the kernel's event loop, where the hub and its queues live; a comm's messages
    may be handled elsewhere (ipykernel's shell handling), so ``receive`` hands each one over."""

    def __init__(
        self,
        hub: Dispatcher,
        app: Any,
        token: str,
        send: Send,
        loop: asyncio.AbstractEventLoop,
        buffers: bool = True,
    ) -> None:
        self._hub = hub
        self._loop = loop
        self._buffers = buffers
        self._app = app
        self._token = token
        self._send = send
        self._client: Client | None = None
        self._tasks: set[asyncio.Task[Any]] = set()  # kept until done

    def receive(self, content: dict[str, Any]) -> None:
        self._loop.call_soon_threadsafe(self._handle, content)

    def _handle(self, content: dict[str, Any]) -> None:
        kind = content.get("kind")
        if kind == "connect":
            self.disconnect()
            self._client = self._hub.connect()
            self._start(self._pump(self._client))
        elif kind == "disconnect":
            self.disconnect()
        elif kind == "op" and self._client is not None:
            self._hub.receive_text(self._client, str(content.get("text", "")))
        elif kind == "get":
            self._start(self._reply(content))

    def disconnect(self) -> None:
        if self._client is not None:
            self._hub.disconnect(self._client)
            self._client = None

    def close(self) -> None:
        self.disconnect()
        for task in list(self._tasks):
            task.cancel()

    def _start(self, work: Any) -> None:
        task = self._loop.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _pump(self, client: Client) -> None:
        """Everything the hub queues for this client, in order, until it disconnects."""
        while self._client is client:
            item = await client.queue.get()
            if self._client is not client:
                return
            if isinstance(item, bytes):
                self._emit({"kind": "frame"}, item)
            else:
                self._send({"kind": "frame", "text": item}, [])

    async def _reply(self, content: dict[str, Any]) -> None:
        method = str(content.get("method", "GET")).upper()
        path = str(content.get("path", ""))
        if method not in METHODS:
            status, kind, body = 405, "text/plain", f"{method} is not offered here".encode()
        else:
            status, kind, body = await call_app(self._app, method, f"/api/{path}", self._token)
        self._emit({"kind": "reply", "id": content.get("id"), "status": status, "type": kind}, body)

    def _emit(self, content: dict[str, Any], payload: bytes) -> None:
        """``content`` with ``payload`` as its one buffer, or, on a channel that cannot carry
        buffers, as base64 in ``b64``."""
        if self._buffers:
            self._send(content, [payload])
        else:
            self._send({**content, "b64": base64.b64encode(payload).decode("ascii")}, [])


async def call_app(app: Any, method: str, target: str, token: str) -> tuple[int, str, bytes]:
    """One request to an ASGI app in-process: its status, content type and body."""
    path, _, query = target.partition("?")
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
        "scheme": "http", "path": unquote(path), "raw_path": path.encode(), "root_path": "",
        "query_string": query.encode(), "client": ("127.0.0.1", 0), "server": ("127.0.0.1", 0),
        "headers": [(TOKEN_HEADER.lower().encode(), token.encode())],
    }  # fmt: skip
    requests = [{"type": "http.request", "body": b"", "more_body": False}]
    answer: dict[str, Any] = {"status": 500, "type": "", "body": []}

    async def receive() -> dict[str, Any]:
        if requests:
            return requests.pop()
        await asyncio.Event().wait()  # nothing more: the request never disconnects first
        raise AssertionError("unreachable")

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            answer["status"] = message["status"]
            headers = dict(message.get("headers") or [])
            answer["type"] = headers.get(b"content-type", b"").decode()
        elif message["type"] == "http.response.body":
            answer["body"].append(message.get("body", b""))

    await app(scope, receive, send)
    return answer["status"], answer["type"], b"".join(answer["body"])


def register_comm_target(
    hub: Dispatcher, app: Any, token: str, loop: asyncio.AbstractEventLoop
) -> bool:
    """Answer comms opened to ``COMM_TARGET`` (the canvas, when the Jupyter server cannot reach
    this kernel's app: a kernel behind a gateway) with a CommBridge each. Its binary parts go as
    base64: jupyter_server's gateway relay decodes every kernel message as UTF-8 text, so a
    message with buffers does not survive it. False outside a kernel with comms."""
    try:
        import comm

        manager = comm.get_comm_manager()  # ipykernel's, in a kernel
    except Exception:  # no kernel, or one without comms
        return False

    def opened(channel: Any, _message: dict[str, Any]) -> None:
        def send(content: dict[str, Any], buffers: list[bytes]) -> None:
            channel.send(content)

        bridge = CommBridge(hub, app, token, send, loop, buffers=False)
        channel.on_msg(lambda message: bridge.receive(message["content"]["data"]))
        channel.on_close(lambda _message: loop.call_soon_threadsafe(bridge.close))

    manager.register_target(COMM_TARGET, opened)
    return True
