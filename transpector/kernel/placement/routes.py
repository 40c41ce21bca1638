"""REST routes of devices and dtypes: ``GET /api/placement``, ``POST /api/placement`` (a move,
answered when done, with progress to websocket clients), ``POST /api/memory/record`` and
``GET /api/memory/snapshot.html`` (the CUDA memory view the canvas links to)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import FastAPI
from fastapi.responses import HTMLResponse, Response

from transpector.kernel.placement.task import move_task
from transpector.protocol.placement import MoveModel, Placement

if TYPE_CHECKING:
    from transpector.kernel.dispatch import Dispatcher


def add_placement_routes(app: FastAPI, hub: Dispatcher) -> None:
    @app.get("/api/placement", tags=["devices"])
    async def placement() -> Placement:
        """Where the model is, its dtype, and what it can be moved to."""
        return hub.session.placement

    @app.post("/api/placement", response_model=Placement, tags=["devices"])
    async def move(request: MoveModel) -> Response:
        """Move and/or cast the model; the new placement, or an error with it where it was."""
        reply = await move_task(hub, request, "rest")
        if reply.result is not None:
            return Response(reply.result.model_dump_json(), media_type="application/json")
        return Response(reply.body, status_code=reply.status, media_type="application/json")

    @app.post("/api/memory/record", tags=["devices"])
    async def record(enabled: bool = True) -> dict[str, bool]:
        """Start (or stop) recording CUDA allocation history for the memory snapshot."""
        hub.session.record_memory(enabled)
        return {"recording": enabled}

    @app.get(
        "/api/memory/snapshot.html",
        response_class=HTMLResponse,
        tags=["devices"],
        responses={400: {"description": "No CUDA device in this kernel"}},
    )
    async def snapshot() -> Response:
        """CUDA memory now, and its recorded history, as one offline HTML page."""
        return HTMLResponse(hub.session.memory_html())
