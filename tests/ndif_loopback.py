"""A loopback NDIF: a test double of an external service, not a product feature.

NDIF needs GPUs and the network, neither of which a test has. This server speaks the request
protocol of nnsight 0.8's ``RemoteBackend`` (read from its client,
``nnsight/intervention/backends/remote.py``) on 127.0.0.1, a free port:

- websocket ``/subscribe``: the first message is ``{"session_id": ...}``; the job's status
  updates follow on it, JSON ``ResponseModel`` text frames;
- ``POST /request``: multipart, form field ``data`` (the ``RequestModel`` JSON: model key, session
  id, compression) and file ``blob`` (the serialized trace); answers the ``RECEIVED`` response
  (its ``id`` is the job id), or 401/404 with ``{"detail": ...}``;
- ``COMPLETED`` carries the result (``torch.save`` of the saved values by name, zstd-compressed
  when the request was) inline, as a binary frame of ``ResponseModel.pickle()`` whose ``data`` is
  the blob, or, past ``inline_limit`` bytes, a URL that ``GET /result/{id}`` serves;
- ``GET /response/{id}``: a job's latest status (404 before the first), for non-blocking jobs
  (no session id), whose result always comes by URL.

The API key travels in the ``ndif-api-key`` header. A job runs on one worker thread with nnsight's
own primitives: ``RequestModel.deserialize`` against the served model's persistent objects, with
an unpickler that imports only what an NDIF server has installed (Transpector and the tests are
not), then the tracer's ``execute`` inside nnsight's trace depth (``inc``/``dec``), which leaves
the saved values in the request's frame.
"""

from __future__ import annotations

import asyncio
import io
import json
import pickle
import sys
import threading
import uuid
import weakref
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from email.parser import BytesParser
from email.policy import HTTP
from pathlib import Path
from typing import Any

import cloudpickle
import pytest
import torch
import uvicorn
from fastapi import FastAPI, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import JSONResponse, Response
from nnsight.intervention.backends.local import _SERVER_MODULES
from nnsight.intervention.serialization import CustomCloudUnpickler
from nnsight.schema.config import CONFIG
from nnsight.schema.request import RequestModel
from nnsight.schema.response import ResponseModel, Status
from nnsight.tracing.tracer import dec, inc

from tests.conftest import boot_tiny
from transpector.kernel.adapter.nnsight_runtime import envoy_at
from transpector.kernel.deferred.ndif import model_key
from transpector.kernel.session import Session

INSTALLED = set(_SERVER_MODULES) | {"cloudpickle", "pydantic", "greenlet", "builtins", "copyreg"}


class ServerUnpickler(CustomCloudUnpickler):  # type: ignore[misc]
    """nnsight's unpickler, importing only packages a server has (as a server would fail)."""

    def find_class(self, module: str, name: str) -> Any:
        root = module.split(".")[0]
        if root not in INSTALLED and root not in sys.stdlib_module_names:
            raise ModuleNotFoundError(f"No module named {module!r} on this server")
        return super().find_class(module, name)


def deploy(model: Any) -> Any:
    """The nnsight envoy a deployment serves ``model`` with: every module wrapped (instrumented)
    up front, as nnsight's own model classes do, since a request's envoys reach the server's
    modules by persistent id and do not wrap them again."""
    envoy = Session(model).envoy
    for path, _ in model.named_modules():
        if path:
            envoy_at(envoy, path)
    return envoy


@contextmanager
def own_classes() -> Iterator[None]:
    """Classes sent by value become classes of this server, as in a process of its own:
    cloudpickle otherwise finds the sender's class by its tracker id in this same process and
    overwrites its methods with the ones rebuilt from the request."""
    module: Any = cloudpickle.cloudpickle
    seen = module._DYNAMIC_CLASS_TRACKER_BY_ID
    module._DYNAMIC_CLASS_TRACKER_BY_ID = weakref.WeakValueDictionary()
    try:
        yield
    finally:
        module._DYNAMIC_CLASS_TRACKER_BY_ID = seen


def multipart(content_type: str, body: bytes) -> dict[str, bytes]:
    """The parts of a multipart/form-data body by field name."""
    head = f"Content-Type: {content_type}\r\n\r\n".encode()
    message = BytesParser(policy=HTTP).parsebytes(head + body)
    parts: dict[str, bytes] = {}
    for part in message.walk():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        if isinstance(name, str) and isinstance(payload, bytes):
            parts[name] = payload
    return parts


class LoopbackNDIF:
    """``with LoopbackNDIF({key: deploy(model)}) as ndif:`` serves each model under its key at
    ``ndif.url``; ``ndif.log`` lists the requests seen (method, path)."""

    def __init__(self, models: dict[str, Any], api_key: str = "key", inline_limit: int = 1 << 20):
        self.models = models
        self.api_key = api_key
        self.inline_limit = inline_limit
        self.log: list[tuple[str, str]] = []
        self.responses: dict[str, ResponseModel] = {}  # each job's latest status
        self.results: dict[str, bytes] = {}
        self.sessions: dict[str, WebSocket] = {}
        self.url = ""
        self._worker = ThreadPoolExecutor(1)
        self._tasks: set[asyncio.Task[None]] = set()
        self._server = uvicorn.Server(uvicorn.Config(self.app(), port=0, log_level="warning"))
        self._thread = threading.Thread(target=self._server.run, daemon=True)

    def __enter__(self) -> LoopbackNDIF:
        self._thread.start()
        while not self._server.started:
            self._thread.join(0.01)
        port = self._server.servers[0].sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.should_exit = True
        self._thread.join(10)
        self._worker.shutdown()

    def app(self) -> FastAPI:
        app = FastAPI()
        app.websocket("/subscribe")(self.subscribe)
        app.post("/request")(self.request)
        app.get("/response/{job}")(self.response)
        app.get("/result/{job}")(self.result)
        return app

    def _refused(self, key: str | None) -> JSONResponse | None:
        if key == self.api_key:
            return None
        return JSONResponse({"detail": "Invalid or missing API key"}, status_code=401)

    async def subscribe(self, websocket: WebSocket) -> None:
        self.log.append(("WS", "/subscribe"))
        if websocket.headers.get("ndif-api-key") != self.api_key:
            await websocket.close(code=1008)
            return
        await websocket.accept()
        session = uuid.uuid4().hex
        self.sessions[session] = websocket
        await websocket.send_text(json.dumps({"session_id": session}))
        try:
            while True:
                await websocket.receive_text()
        except WebSocketDisconnect:
            self.sessions.pop(session, None)

    async def request(self, request: Request) -> JSONResponse:
        self.log.append(("POST", "/request"))
        refused = self._refused(request.headers.get("ndif-api-key"))
        if refused is not None:
            return refused
        parts = multipart(request.headers["content-type"], await request.body())
        meta = RequestModel.model_validate_json(parts["data"])
        if meta.model_key not in self.models:
            detail = f"Model {meta.model_key} is not deployed"
            return JSONResponse({"detail": detail}, status_code=404)
        job = uuid.uuid4().hex
        received = self._record(job, Status.RECEIVED, "Your job has been received.")
        task = asyncio.create_task(self._run(job, meta, parts["blob"]))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return JSONResponse(received.model_dump(mode="json"))

    async def response(self, job: str, request: Request) -> Response:
        self.log.append(("GET", f"/response/{job}"))
        refused = self._refused(request.headers.get("ndif-api-key"))
        if refused is not None:
            return refused
        if job not in self.responses:
            return JSONResponse({"detail": "no status yet"}, status_code=404)
        return Response(self.responses[job].model_dump_json(), media_type="application/json")

    async def result(self, job: str) -> Response:
        self.log.append(("GET", f"/result/{job}"))
        if job not in self.results:
            return JSONResponse({"detail": "no such result"}, status_code=404)
        return Response(self.results[job], media_type="application/octet-stream")

    def _record(self, job: str, status: Status, text: str, data: Any = None) -> ResponseModel:
        self.responses[job] = ResponseModel(id=job, status=status, description=text, data=data)
        return self.responses[job]

    async def _send(self, session: str, response: ResponseModel) -> None:
        if session in self.sessions:
            await self.sessions[session].send_text(response.model_dump_json())

    async def _run(self, job: str, meta: RequestModel, blob: bytes) -> None:
        session = meta.session_id
        for status in (Status.QUEUED, Status.RUNNING):
            await self._send(session, self._record(job, status, status.value.lower()))
        loop = asyncio.get_running_loop()
        try:
            data = await loop.run_in_executor(self._worker, self.execute, meta, blob)
        except Exception as error:
            failed = self._record(job, Status.ERROR, f"{type(error).__name__}: {error}")
            await self._send(session, failed)
            return
        self.results[job] = data
        done = self._record(job, Status.COMPLETED, "done", f"{self.url}/result/{job}")
        if session in self.sessions and len(data) <= self.inline_limit:
            inline = ResponseModel(id=job, status=Status.COMPLETED, description="done", data=data)
            await self.sessions[session].send_bytes(inline.pickle())
        else:
            await self._send(session, done)

    def execute(self, meta: RequestModel, blob: bytes) -> bytes:
        """Run one request on the served model; the result blob."""
        served = self.models[meta.model_key]
        objects = served._remoteable_persistent_objects()
        with own_classes():
            tracer = RequestModel.deserialize(
                blob, objects, meta.compress, unpickler=ServerUnpickler
            )
        frame = tracer.info.frame
        before = dict(frame.f_locals)
        inc()  # the outermost trace: execute pushes only the saved values into the frame
        try:
            tracer.execute(tracer.info.code)
        finally:
            dec()
        saves = {k: v for k, v in frame.f_locals.items() if before.get(k, pickle) is not v}
        buffer = io.BytesIO()
        torch.save(saves, buffer)
        data = buffer.getvalue()
        if meta.compress:
            import zstandard

            data = zstandard.ZstdCompressor(level=6).compress(data)
        return data


@pytest.fixture(scope="module")
def ndif(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LoopbackNDIF]:
    """The loopback server with its own copy of the tiny model (same seed, same weights)."""
    far = boot_tiny(Path(tmp_path_factory.mktemp("far")))
    with LoopbackNDIF({model_key(far): deploy(far)}) as server:
        yield server


@pytest.fixture
def configured(ndif: LoopbackNDIF, monkeypatch: pytest.MonkeyPatch) -> LoopbackNDIF:
    """nnsight's config pointing at the loopback server, with its key; its log emptied."""
    monkeypatch.setattr(CONFIG.API, "HOST", ndif.url)
    monkeypatch.setattr(CONFIG.API, "APIKEY", ndif.api_key)
    monkeypatch.setattr(CONFIG.APP, "REMOTE_LOGGING", False)
    ndif.log.clear()
    return ndif
