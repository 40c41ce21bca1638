"""One writer, many viewers (DESIGN invariant 2): every client's operations go through the Session,
and every accepted change, a notebook cell's included, is pushed to every client with its version.

Model work runs synchronously on the loop's thread, so a cell and a canvas run never overlap.
Changes ask for a run; requests that arrive while one is pending coalesce into one run of the
latest state, so runs never go out of order.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import struct
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import torch
from pydantic import TypeAdapter, ValidationError

from transpector.errors import TranspectorError
from transpector.kernel.runner import RunResult
from transpector.kernel.session import Session
from transpector.protocol import messages as m

log = logging.getLogger("transpector")
CLIENT_MESSAGE: TypeAdapter[m.ClientMessage] = TypeAdapter(m.ClientMessage)
MAX_TEXT_FRAME = 1 << 20
Outgoing = str | bytes


@dataclass
class Client:
    id: str
    queue: asyncio.Queue[Outgoing] = field(default_factory=asyncio.Queue)


class Hub:
    def __init__(self, session: Session) -> None:
        self.session = session
        self.clients: dict[str, Client] = {}
        self._actor = ("python", "")
        self._run_wanted = False
        self._run_task: asyncio.Task[None] | None = None
        self._batches: dict[str, bool] = {}  # task id -> cancel asked
        self._unsubscribe = session.subscribe(self._on_change)

    def close(self) -> None:
        self._unsubscribe()

    def switch(self, session: Session) -> None:
        """Serve another session (a re-attach with a new model): connected clients get its state."""
        if session is self.session:
            return
        self.close()
        self.session = session
        self._unsubscribe = session.subscribe(self._on_change)
        for client in self.clients.values():
            hello = m.StateMessage(
                version=session.version, state=session.state, client_id=client.id
            )
            self._send(client, hello.model_dump_json())
        self._want_run()

    # ---- clients ---------------------------------------------------------------------------
    def connect(self) -> Client:
        client = Client(id=uuid.uuid4().hex[:8])
        self.clients[client.id] = client
        hello = m.StateMessage(
            version=self.session.version, state=self.session.state, client_id=client.id
        )
        client.queue.put_nowait(hello.model_dump_json())
        self._want_run()
        return client

    def disconnect(self, client: Client) -> None:
        self.clients.pop(client.id, None)

    def receive_text(self, client: Client, text: str) -> None:
        """Handle one text frame; any problem is an ``error`` message to that client alone."""
        if len(text) > MAX_TEXT_FRAME:
            self._send(client, _error("too_large", f"frame over {MAX_TEXT_FRAME} bytes"))
            return
        try:
            raw = json.loads(text)
        except ValueError as error:
            self._send(client, _error("bad_request", f"not JSON: {error}"))
            return
        request_id = str(raw.get("request_id", ""))[:64] if isinstance(raw, dict) else ""
        try:
            message = CLIENT_MESSAGE.validate_python(raw)
        except ValidationError as error:
            code = "unknown_op" if _unknown_op(error) else "invalid"
            self._send(client, _error(code, _first_error(error), request_id))
            return
        for reply in self.apply(message, client.id):
            self._send(client, reply)

    # ---- operations --------------------------------------------------------------------------
    def apply(self, message: m.ClientMessage, by: str) -> list[Outgoing]:
        """Apply one operation; returns what goes back to the sender alone (changes and run
        summaries go to everyone through the broadcast)."""
        try:
            with self._acting(by, message.request_id):
                return self._apply(message)
        except TranspectorError as error:
            return [_error("invalid", str(error), message.request_id)]
        except Exception as error:  # a bug must not kill the connection; say what broke
            log.exception("transpector: %s failed", message.op)
            text = f"{message.op} failed: {type(error).__name__}: {error}"
            return [_error("internal", text, message.request_id)]

    def _apply(self, msg: m.ClientMessage) -> list[Outgoing]:
        s = self.session
        if isinstance(msg, m.SetPrompt):
            s.prompt = msg.prompt
        elif isinstance(msg, m.SetPrompts):
            s.prompts = msg.prompts
        elif isinstance(msg, m.SelectPrompt):
            s.select_prompt(msg.index)
        elif isinstance(msg, m.SetReference):
            s.reference_prompts = msg.prompts
        elif isinstance(msg, m.AddIntervention):
            s.add(msg.intervention.model_copy(update={"id": ""}))
        elif isinstance(msg, m.RemoveIntervention):
            s.remove(msg.id)
        elif isinstance(msg, m.ClearInterventions):
            s.clear()
        elif isinstance(msg, m.SetNote):
            s.set_note(msg.node, msg.text)
        elif isinstance(msg, m.Run):
            self.broadcast(self.summary(s.run(top_k=msg.top_k, lens=msg.lens), msg.request_id))
        elif isinstance(msg, m.RunBatch):
            asyncio.get_running_loop().create_task(self.run_batch(msg.request_id))
        elif isinstance(msg, m.RequestNodeData):
            return [self.node_data(msg)]
        elif isinstance(msg, m.RequestLensTopK):
            top = s.lens_top_k(msg.layer, msg.position, msg.k)
            reply = m.LensTopK(
                request_id=msg.request_id,
                version=s.version,
                layer=msg.layer,
                position=msg.position,
                top_k=top,
            )
            return [reply.model_dump_json()]
        elif isinstance(msg, m.Cancel):
            return [self._cancel(msg)]
        elif isinstance(msg, m.Ping):
            return [m.Pong(request_id=msg.request_id).model_dump_json()]
        return []

    def node_data(self, msg: m.RequestNodeData) -> bytes:
        tensor = self.session.node_data(msg.node, msg.what)
        node = self.session.graph.node(msg.node) if self.session.graph.has(msg.node) else None
        what = msg.what or ("pattern" if node and node.kind in ("head", "attn") else "activation")
        header = m.NodeDataHeader(
            request_id=msg.request_id,
            node=msg.node,
            what=what,
            dtype=msg.dtype,
            shape=list(tensor.shape),
        )
        return encode_tensor(header.model_dump_json(), tensor, msg.dtype)

    def summary(self, result: RunResult, request_id: str = "") -> str:
        return m.RunSummary(
            version=result.version,
            request_id=request_id,
            prompt=result.prompt,
            tokens=result.tokens,
            token_ids=result.token_ids,
            top_k=result.top_k,
            loss=result.loss,
            logit_lens=result.logit_lens,
            head_dla=result.head_dla,
            dla_token=result.dla_token,
            logits_shape=list(result.logits.shape),
        ).model_dump_json()

    async def run_batch(self, request_id: str) -> m.BatchSummary:
        """Run each prompt in turn, yielding to the loop between prompts: progress goes to every
        client, and ``cancel`` with the task id stops it after the prompt being run."""
        task_id = uuid.uuid4().hex[:8]
        prompts = self.session.prompts
        rows: list[m.BatchRow] = []
        self._batches[task_id] = False
        try:
            for done, prompt in enumerate(prompts):
                self.broadcast(m.Progress(task_id=task_id, done=done, total=len(prompts),
                                          label=prompt[:80]).model_dump_json())  # fmt: skip
                await asyncio.sleep(0)
                if self._batches[task_id]:
                    break
                result = self.session.run(prompt, top_k=1, lens=False)
                mean = sum(result.loss) / max(len(result.loss), 1)
                rows.append(m.BatchRow(prompt=prompt, n_tokens=len(result.tokens),
                                       mean_loss=mean, top_token=result.top_k[-1][0]))  # fmt: skip
        finally:
            del self._batches[task_id]
        summary = m.BatchSummary(
            task_id=task_id,
            request_id=request_id,
            version=self.session.version,
            rows=rows,
            complete=len(rows) == len(prompts),
        )
        self.broadcast(summary.model_dump_json())
        return summary

    def _cancel(self, msg: m.Cancel) -> str:
        if msg.task_id in self._batches:
            self._batches[msg.task_id] = True
            return m.Pong(request_id=msg.request_id).model_dump_json()
        if msg.task_id == "run" and self._run_wanted:
            self._run_wanted = False
            return _error("cancelled", "the pending run was cancelled", msg.request_id)
        return _error("invalid", f"no cancellable task '{msg.task_id}'", msg.request_id)

    # ---- broadcast and coalesced runs --------------------------------------------------------
    def broadcast(self, text: Outgoing) -> None:
        for client in list(self.clients.values()):
            self._send(client, text)

    def _send(self, client: Client, item: Outgoing) -> None:
        client.queue.put_nowait(item)

    def _on_change(self, change: dict[str, Any]) -> None:
        by, request_id = self._actor
        detail = {k: v for k, v in change.items() if k not in ("op", "version")}
        changed = m.Changed(
            version=change["version"],
            cause=change["op"],
            by=by,
            request_id=request_id,
            detail=detail,
            state=self.session.state,
        )
        self.broadcast(changed.model_dump_json())
        self._want_run()

    def _want_run(self) -> None:
        if not self.clients:
            return
        self._run_wanted = True
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        if self._run_task is None or self._run_task.done():
            self._run_task = loop.create_task(self._run_latest())

    async def _run_latest(self) -> None:
        while self._run_wanted:
            await asyncio.sleep(0)  # let queued operations land first: they join this run
            if not self._run_wanted:
                return
            self._run_wanted = False
            try:
                self.broadcast(self.summary(self.session.run()))
            except TranspectorError as error:
                self.broadcast(_error("invalid", str(error)))

    @contextlib.contextmanager
    def _acting(self, by: str, request_id: str) -> Iterator[None]:
        previous, self._actor = self._actor, (by, request_id)
        try:
            yield
        finally:
            self._actor = previous


def encode_tensor(header_json: str, tensor: torch.Tensor, dtype: str) -> bytes:
    """4-byte little-endian header length, the JSON header (padded so the data starts on an
    8-byte boundary, as typed arrays need), then the raw little-endian values."""
    header = header_json.encode()
    header += b" " * (-(4 + len(header)) % 8)
    values = tensor.detach().to(torch.float16 if dtype == "float16" else torch.float32).cpu()
    data: bytes = values.contiguous().numpy().tobytes()
    return struct.pack("<I", len(header)) + header + data


def _error(code: str, message: str, request_id: str = "") -> str:
    return m.ErrorMessage(code=code, message=message, request_id=request_id).model_dump_json()  # type: ignore[arg-type]


def _unknown_op(error: ValidationError) -> bool:
    return any(e["type"] == "union_tag_invalid" for e in error.errors())


def _first_error(error: ValidationError) -> str:
    first = error.errors()[0]
    where = ".".join(str(p) for p in first["loc"])
    return f"{where}: {first['msg']}" if where else str(first["msg"])
