"""The kernel app: FastAPI over the Session, served by uvicorn on the kernel's own event loop.

Every request must carry the per-kernel secret (``X-Transpector-Token``, or ``Authorization:
Bearer``), compared in constant time, on HTTP and websocket alike. REST mirrors the websocket
operations and shares their pydantic models.
"""

from __future__ import annotations

import hmac
import re
from functools import partial
from pathlib import Path
from typing import Annotated, Any

from fastapi import Body, FastAPI, Request, WebSocket, WebSocketDisconnect
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, PlainTextResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from transpector._version import __version__
from transpector.errors import TranspectorError
from transpector.kernel.dispatch import Dispatcher, Reply, error_reply
from transpector.kernel.errors_http import (
    HTTP_CODES,
    error_response,
    openapi_with_one_error_shape,
    validation_message,
)
from transpector.kernel.placement.routes import add_placement_routes
from transpector.kernel.tools import TOOLS, Tool, tool_named
from transpector.protocol import messages as m
from transpector.protocol.experiments import Experiment, ExperimentDiff
from transpector.protocol.graph import GraphSpec, NodeDataKind
from transpector.protocol.hooks import HookInfo, KernelAppInfo
from transpector.protocol.sidecar import TOKEN_HEADER

DOCS_ASSETS = Path(__file__).parent / "docs_assets"  # Swagger UI, copied by `jlpm build:docs`


def create_app(hub: Dispatcher, token: str) -> FastAPI:
    app = FastAPI(
        title="Transpector kernel app",
        version=__version__,
        docs_url=None,
        openapi_url="/api/openapi.json",
        redoc_url=None,
    )
    app.add_middleware(RequireToken, token=token)

    app.mount(
        "/api/docs-assets", StaticFiles(directory=DOCS_ASSETS, check_dir=False), name="docs-assets"
    )

    @app.get("/api/docs", include_in_schema=False)
    async def docs() -> Response:
        """Swagger UI 5 (reads OpenAPI 3.1), shipped in the package (no CDN), with relative URLs
        so it works behind the Jupyter proxy too."""
        if not (DOCS_ASSETS / "swagger-ui-bundle.js").is_file():
            text = "the API docs' assets are not built: run `jlpm build:docs` (make install does)"
            return _response(error_reply("unavailable", text))
        return get_swagger_ui_html(
            openapi_url="openapi.json",
            title="Transpector kernel app",
            swagger_js_url="docs-assets/swagger-ui-bundle.js",
            swagger_css_url="docs-assets/swagger-ui.css",
            swagger_favicon_url="docs-assets/favicon-32x32.png",
        )

    @app.exception_handler(TranspectorError)
    async def bad_input(request: Request, error: TranspectorError) -> Response:
        return _response(error_reply("invalid", str(error)))

    # FastAPI's and Starlette's own errors (a body that does not parse or validate, an unknown
    # route, a method not allowed) in the one error shape, their status kept.
    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, error: RequestValidationError) -> Response:
        return error_response(422, "invalid", validation_message(error.errors()))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> Response:
        code = HTTP_CODES.get(error.status_code, "bad_request")
        return error_response(error.status_code, code, str(error.detail), error.headers)

    app.openapi = partial(openapi_with_one_error_shape, app)  # type: ignore[method-assign]

    @app.get("/api/graph")
    async def graph() -> GraphSpec:
        return hub.session.graph

    @app.get("/api/state")
    async def state() -> m.StateMessage:
        s = hub.session
        return m.StateMessage(
            version=s.version, state=s.state, client_id="rest", session_id=s.session_id
        )

    @app.post("/api/ops", responses={200: {"content": {"application/octet-stream": {}}}})
    async def operation(message: Annotated[m.ClientMessage, Body()]) -> Any:
        """Apply one operation exactly as the websocket does; answers the sender's reply (``run``:
        the run summary), else the new state."""
        if isinstance(message, m.ToolCall) and not message.request_id:
            message.request_id = "rest"
        if isinstance(message, m.ToolCall) and tool_named(message.tool).steps is not None:
            args = hub.session.tool_args(message.tool, message.args)
            tool = tool_named(message.tool)
            return _response(await hub.call_long(tool, args, message.request_id, "rest"))
        for reply in hub.apply(message, "rest"):
            return _response(reply)
        return await state()

    @app.post("/api/run", response_model=m.RunSummary)
    async def run(request: m.Run) -> Response:
        """The run summary the websocket sends, serialized once (a Response skips FastAPI's
        own validation and serialization)."""
        context = hub.session.context()
        body = hub.summary(context, request.request_id, request.top_k)
        return Response(body, media_type="application/json")

    for tool in TOOLS:
        _add_tool_route(app, hub, tool)
    add_placement_routes(app, hub)

    @app.get("/api/nodes/{node_id}/data", response_class=Response)
    async def node_data(
        node_id: str, what: NodeDataKind | None = None, dtype: m.TensorDtype = "float32"
    ) -> Response:
        """A node's tensor as one binary frame (see the websocket's binary frames)."""
        body = hub.node_data(m.RequestNodeData(node=node_id, what=what, dtype=dtype))
        return Response(body, media_type="application/octet-stream")

    @app.get("/api/info")
    async def info() -> KernelAppInfo:
        session = hub.session
        return KernelAppInfo(
            model_name=session.graph.model_name,
            session_id=session.session_id,
            protocol_version=m.PROTOCOL_VERSION,
            caches=session.caches,
        )

    @app.get("/api/hooks")
    async def hooks() -> list[HookInfo]:
        return hub.session.hooks()

    @app.delete("/api/hooks/foreign")
    async def reset_foreign_hooks() -> dict[str, int]:
        return {"removed": hub.session.reset_foreign_hooks()}

    @app.get("/api/experiments", tags=["experiments"])
    async def experiments() -> list[Experiment]:
        """Every saved experiment in full, oldest first."""
        return list(hub.session.experiments.values())

    @app.get("/api/experiments/diff", tags=["experiments"])
    async def diff_experiments(a: str, b: str) -> ExperimentDiff:
        """The interventions that differ between experiments ``a`` and ``b``, and their metrics."""
        return hub.session.diff_experiments(a, b)

    @app.get("/api/export.html", response_class=HTMLResponse, tags=["experiments"])
    async def export_html() -> Response:
        """The current view as one self-contained, read-only HTML file (a download)."""
        model = Path(hub.session.graph.model_name).name  # a folder's name, not its path
        name = f"transpector-{model}-v{hub.session.version}.html"
        disposition = f'attachment; filename="{_safe_file_name(name)}"'
        html = hub.session.view_html()
        return HTMLResponse(html, headers={"Content-Disposition": disposition})

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
                    hub.send(client, _binary_refused())
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
            response = error_response(403, "forbidden", "missing or wrong Transpector token")
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def _allowed(self, scope: Scope) -> bool:
        headers = dict(scope.get("headers") or [])
        given = headers.get(TOKEN_HEADER.lower().encode(), b"")
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


def _safe_file_name(name: str) -> str:
    """``name`` with anything but letters, digits, ``.``, ``-`` and ``_`` as ``-``."""
    return re.sub(r"[^A-Za-z0-9._-]", "-", name)


def _binary_refused() -> str:
    return m.error_frame("bad_request", "send operations as JSON text frames")


def _response(reply: Reply) -> Response:
    """A reply as HTTP: binary frames as octet-stream, JSON with the status its type gives."""
    if isinstance(reply.body, bytes):
        return Response(reply.body, media_type="application/octet-stream")
    return Response(reply.body, status_code=reply.status, media_type="application/json")


def _add_tool_route(app: FastAPI, hub: Dispatcher, tool: Tool) -> None:
    """``POST /api/tools/<name>``: the tool's Args as the body, its Result as the answer (on the
    session's current prompt and state); long tools send progress to websocket clients."""
    contract = tool.contract

    async def call(args: BaseModel) -> Response:
        if tool.compute is not None:
            result = hub.compute(tool, args)
            return Response(result.model_dump_json(), media_type="application/json")
        reply = await hub.call_long(tool, args, "rest", "rest")
        if reply.result is None:
            return _response(reply)
        return Response(reply.result.model_dump_json(), media_type="application/json")

    call.__annotations__ = {"args": contract.args, "return": Response}  # the body FastAPI reads
    app.add_api_route(
        f"/api/tools/{contract.name}",
        call,
        methods=["POST"],
        response_model=contract.result,
        summary=contract.summary,
        name=f"tool_{contract.name}",
        tags=["tools"],
    )
