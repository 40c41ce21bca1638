"""The kernel app: FastAPI over the Session, served by uvicorn on the kernel's own event loop.

Every request must carry the per-kernel secret (``X-Transpector-Token``, or ``Authorization:
Bearer``), compared in constant time, on HTTP and websocket alike. REST mirrors the websocket
operations and shares their pydantic models.
"""

from __future__ import annotations

import hmac
from typing import Annotated, Any

from fastapi import Body, FastAPI, Request, WebSocket, WebSocketDisconnect
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send
from swagger_ui_bundle import swagger_ui_path

from transpector._version import __version__
from transpector.errors import TranspectorError
from transpector.kernel.sync import Hub
from transpector.protocol import messages as m
from transpector.protocol.graph import GraphSpec
from transpector.protocol.hooks import HookInfo

TOKEN_HEADER = "x-transpector-token"


def create_app(hub: Hub, token: str) -> FastAPI:
    app = FastAPI(
        title="Transpector kernel app",
        version=__version__,
        docs_url=None,
        openapi_url="/api/openapi.json",
        redoc_url=None,
    )
    app.add_middleware(RequireToken, token=token)

    app.mount("/api/docs-assets", StaticFiles(directory=swagger_ui_path), name="docs-assets")

    @app.get("/api/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        """Swagger UI from the installed swagger-ui-bundle (no CDN), with relative URLs so it
        works behind the Jupyter proxy too."""
        return get_swagger_ui_html(
            openapi_url="openapi.json",
            title="Transpector kernel app",
            swagger_js_url="docs-assets/swagger-ui-bundle.js",
            swagger_css_url="docs-assets/swagger-ui.css",
            swagger_favicon_url="docs-assets/favicon-32x32.png",
        )

    @app.exception_handler(TranspectorError)
    async def bad_input(request: Request, error: TranspectorError) -> JSONResponse:
        return JSONResponse({"code": "invalid", "message": str(error)}, status_code=400)

    @app.get("/api/graph")
    async def graph() -> GraphSpec:
        return hub.session.graph

    @app.get("/api/state")
    async def state() -> m.StateMessage:
        s = hub.session
        return m.StateMessage(version=s.version, state=s.state, client_id="rest")

    @app.post("/api/ops", responses={200: {"content": {"application/octet-stream": {}}}})
    async def operation(message: Annotated[m.ClientMessage, Body()]) -> Any:
        """Apply one operation exactly as the websocket does; answers the sender's reply, else
        the new state."""
        for reply in hub.apply(message, "rest"):
            if isinstance(reply, bytes):
                return Response(reply, media_type="application/octet-stream")
            return JSONResponse(_json(reply), status_code=400 if '"op":"error"' in reply else 200)
        return await state()

    @app.post("/api/run_batch")
    async def run_batch(request: m.RunBatch) -> m.BatchSummary:
        """Run every prompt of the session (progress goes to websocket clients)."""
        return await hub.run_batch(request.request_id or "rest")

    @app.post("/api/run", response_model=m.RunSummary)
    async def run(request: m.Run) -> Response:
        """The run summary the websocket sends, serialized once (a Response skips FastAPI's
        own validation and serialization)."""
        result = hub.session.run(top_k=request.top_k, lens=request.lens)
        return Response(hub.summary(result, request.request_id), media_type="application/json")

    @app.get("/api/nodes/{node_id}/data", response_class=Response)
    async def node_data(
        node_id: str, what: m.NodeDataKind | None = None, dtype: m.TensorDtype = "float32"
    ) -> Response:
        """A node's tensor as one binary frame (see the websocket's binary frames)."""
        body = hub.node_data(m.RequestNodeData(node=node_id, what=what, dtype=dtype))
        return Response(body, media_type="application/octet-stream")

    @app.get("/api/hooks")
    async def hooks() -> list[HookInfo]:
        return hub.session.hooks()

    @app.delete("/api/hooks/foreign")
    async def reset_foreign_hooks() -> dict[str, int]:
        return {"removed": hub.session.reset_foreign_hooks()}

    @app.get("/api/code", response_class=PlainTextResponse)
    async def code() -> str:
        return hub.session.code()

    @app.websocket("/ws")
    async def sync(websocket: WebSocket) -> None:
        await websocket.accept()
        client = hub.connect()
        sender = _start_sender(websocket, client)
        try:
            while True:
                frame = await websocket.receive()
                if frame["type"] == "websocket.disconnect":
                    break
                if frame.get("text") is not None:
                    hub.receive_text(client, frame["text"])
                else:
                    hub._send(client, _binary_refused())
        except WebSocketDisconnect:
            pass
        finally:
            hub.disconnect(client)
            sender.cancel()

    return app


class RequireToken:
    """ASGI middleware: 403 (HTTP) or a refused handshake (websocket) without the secret."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self.token = token.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket") and not self._allowed(scope):
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1008})
                return
            response = JSONResponse({"message": "missing or wrong Transpector token"}, 403)
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def _allowed(self, scope: Scope) -> bool:
        headers = dict(scope.get("headers") or [])
        given = headers.get(TOKEN_HEADER.encode(), b"")
        bearer = headers.get(b"authorization", b"")
        if not given and bearer.lower().startswith(b"bearer "):
            given = bearer[7:]
        return hmac.compare_digest(given, self.token)


def _start_sender(websocket: WebSocket, client: Any) -> Any:
    import asyncio

    async def send_all() -> None:
        while True:
            item = await client.queue.get()
            if isinstance(item, bytes):
                await websocket.send_bytes(item)
            else:
                await websocket.send_text(item)

    return asyncio.get_running_loop().create_task(send_all())


def _binary_refused() -> str:
    return m.ErrorMessage(
        code="bad_request", message="send operations as JSON text frames"
    ).model_dump_json()


def _json(text: str) -> Any:
    import json

    return json.loads(text)
