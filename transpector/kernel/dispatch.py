"""One writer, many viewers (DESIGN invariant 2): the Dispatcher applies every operation, from a
websocket client or REST, to the Session, and pushes every accepted change, a notebook cell's
included, to every client with its version.

Model work runs synchronously on the loop's thread, so a cell and a canvas run never overlap.
Changes ask for a run; requests that arrive while one is pending coalesce into one run of the
latest state, so runs never go out of order. A run's outputs go out as soon as its forward is
done; the ``after_run`` tools (the logit lens) follow in their own messages, unless a newer
state is already waiting to run.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from typing import Any

import torch
from pydantic import BaseModel, TypeAdapter, ValidationError

from transpector.errors import TranspectorError, first_error
from transpector.kernel.frames import encode_tensor
from transpector.kernel.placement.methods import out_of_memory
from transpector.kernel.placement.task import move_task
from transpector.kernel.run_context import RunContext
from transpector.kernel.session import Session
from transpector.kernel.targets import data_source
from transpector.kernel.tools import AFTER_RUN, Tool, tool_named
from transpector.kernel.tools.base import Cancelled
from transpector.protocol import messages as m
from transpector.protocol.placement import MoveModel

log = logging.getLogger("transpector")
CLIENT_MESSAGE: TypeAdapter[m.ClientMessage] = TypeAdapter(m.ClientMessage)
STATUS = {"invalid": 400, "bad_request": 400, "unknown_op": 400, "too_large": 413,
          "cancelled": 409, "unavailable": 503, "internal": 500, "not_found": 404,
          "forbidden": 403, "unreachable": 503}  # fmt: skip


@dataclass(frozen=True)
class Reply:
    """What goes back to the sender alone: a JSON text or a binary frame, and its HTTP status."""

    body: str | bytes
    status: int = 200
    result: BaseModel | None = None  # a tool's result, for its REST route


Outgoing = str | bytes


@dataclass
class Client:
    id: str
    queue: asyncio.Queue[Outgoing] = field(default_factory=asyncio.Queue)


def error_reply(code: m.ErrorCode, message: str, request_id: str = "") -> Reply:
    return Reply(m.error_frame(code, message, request_id), STATUS[code])


class Dispatcher:
    def __init__(self, session: Session) -> None:
        self.session = session
        self.clients: dict[str, Client] = {}
        self._actor = ("python", "")
        self._run_wanted = False
        self._run_task: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()  # every task started, kept until done
        self._cancel_asked: dict[str, bool] = {}  # long tool task id -> cancel asked
        self._unsubscribe = session.subscribe(self._on_change)
        self._ops: dict[str, Callable[[Any], list[Reply]]] = {
            "set_prompt": lambda msg: self._change(setattr, self.session, "prompt", msg.prompt),
            "set_prompts": lambda msg: self._change(setattr, self.session, "prompts", msg.prompts),
            "select_prompt": lambda msg: self._change(self.session.select_prompt, msg.index),
            "set_reference": lambda msg: self._change(
                setattr, self.session, "reference_prompts", msg.prompts
            ),
            "add_intervention": lambda msg: self._change(
                self.session.add, msg.intervention.model_copy(update={"id": ""})
            ),
            "add_interventions": lambda msg: self._change(
                self.session.add_many, [i.model_copy(update={"id": ""}) for i in msg.interventions]
            ),
            "set_pairs": lambda msg: self._change(setattr, self.session, "pairs", msg.pairs),
            "set_metric": lambda msg: self._change(setattr, self.session, "metric", msg.metric),
            "remove_intervention": lambda msg: self._change(self.session.remove, msg.id),
            "clear_interventions": lambda msg: self._change(self.session.clear),
            "set_note": lambda msg: self._change(self.session.set_note, msg.node, msg.text),
            "save_experiment": lambda msg: self._change(
                self.session.save_experiment, msg.name, msg.overwrite
            ),
            "restore_experiment": lambda msg: self._change(
                self.session.restore_experiment, msg.name
            ),
            "delete_experiment": lambda msg: self._change(self.session.delete_experiment, msg.name),
            "import_experiments": lambda msg: self._change(
                self.session.import_experiments, msg.experiments
            ),
            "run": self._run_now,
            "tool_call": self._tool_call,
            "node_data": lambda msg: [Reply(self.node_data(msg))],
            "cancel": self._cancel,
            "ping": lambda msg: [Reply(m.Pong(request_id=msg.request_id).model_dump_json())],
            "move_model": self._move_model,
        }

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
            self.send(client, self._hello(client))
        self._want_run()

    # ---- clients ---------------------------------------------------------------------------
    def connect(self) -> Client:
        client = Client(id=uuid.uuid4().hex[:8])
        self.clients[client.id] = client
        client.queue.put_nowait(self._hello(client))
        self._want_run()
        return client

    def disconnect(self, client: Client) -> None:
        self.clients.pop(client.id, None)

    def _hello(self, client: Client) -> str:
        s = self.session
        return m.StateMessage(
            version=s.version, state=s.state, client_id=client.id, session_id=s.session_id
        ).model_dump_json()

    def receive_text(self, client: Client, text: str) -> None:
        """Handle one text frame; any problem is an ``error`` message to that client alone."""
        for reply in self.parse_and_apply(text, client.id):
            self.send(client, reply.body)

    def parse_and_apply(self, text: str, by: str) -> list[Reply]:
        oversized = m.too_large(text)
        if oversized:
            return [error_reply("too_large", oversized)]
        try:
            raw = json.loads(text)
        except (ValueError, RecursionError) as error:
            return [error_reply("bad_request", f"not JSON: {error}")]
        request_id = str(raw.get("request_id", ""))[:64] if isinstance(raw, dict) else ""
        try:
            message = CLIENT_MESSAGE.validate_python(raw)
        except ValidationError as error:
            op = raw.get("op") if isinstance(raw, dict) else None
            if op is not None and not isinstance(op, str):  # a wrong type, not an unknown name
                text = f"op: must be a string naming the operation, not {type(op).__name__}"
                return [error_reply("invalid", text, request_id)]
            if _unknown_op(error):
                return [error_reply("unknown_op", first_error(error), request_id)]
            return [error_reply("invalid", first_error(error), request_id)]
        return self.apply(message, by)

    # ---- operations --------------------------------------------------------------------------
    def apply(self, message: m.ClientMessage, by: str) -> list[Reply]:
        """Apply one operation; returns what goes back to the sender alone (changes and run
        summaries go to everyone through the broadcast)."""
        try:
            with self._acting(by, message.request_id):
                return self._ops[message.op](message)
        except TranspectorError as error:
            return [error_reply("invalid", str(error), message.request_id)]
        except torch.OutOfMemoryError as error:  # one clear line; the session goes on
            text = str(out_of_memory(error, self.session.model))
            return [error_reply("invalid", text, message.request_id)]
        except Exception as error:  # a bug must not kill the connection; say what broke
            log.exception("transpector: %s failed", message.op)
            text = f"{message.op} failed: {type(error).__name__}: {error}"
            return [error_reply("internal", text, message.request_id)]

    def _change(self, fn: Callable[..., object], *args: Any) -> list[Reply]:
        fn(*args)
        return []

    def _run_now(self, msg: m.Run) -> list[Reply]:
        """The summary to the sender (REST included), and to every other client; the lens to all
        clients after it."""
        context, summary = self.run_outputs(msg.request_id, msg.top_k)
        for client_id, client in self.clients.items():
            if client_id != self._actor[0]:
                self.send(client, summary)
        if msg.lens:
            self._start(self._after_run(context))
        return [Reply(summary)]

    def _move_model(self, msg: MoveModel) -> list[Reply]:
        if self._cancel_asked:  # a long tool or a move is under way: it runs on the model
            text = "a long tool or another move is under way: move the model when it is done"
            return [error_reply("invalid", text, msg.request_id)]
        self._start(move_task(self, msg, self._actor[0]))  # progress, then the answer
        return []

    def _tool_call(self, msg: m.ToolCall) -> list[Reply]:
        tool = tool_named(msg.tool)
        args = self.session.tool_args(msg.tool, msg.args)
        if tool.compute is None:
            self._start(self.call_long(tool, args, msg.request_id, self._actor[0]))
            return []
        return [Reply(self._tool_result(tool, self.compute(tool, args), msg.request_id))]

    def compute(self, tool: Tool, args: BaseModel) -> BaseModel:
        """A short tool on the current prompt and state, remembered for saved experiments."""
        assert tool.compute is not None
        with self.session._sweeping():  # out of memory: one clear error, on every path
            result = tool.compute(self.session.context(), args)
        self.session.record_tool(tool.name, args, result)
        return result

    def _tool_result(
        self, tool: Tool, result: BaseModel, request_id: str, task_id: str = ""
    ) -> str:
        return m.ToolResult(
            tool=tool.name,
            request_id=request_id,
            task_id=task_id,
            version=self.session.version,
            result=result.model_dump(),
        ).model_dump_json()

    async def call_long(self, tool: Tool, args: BaseModel, request_id: str, by: str) -> Reply:
        """Drive a long tool's steps, yielding to the loop between them: progress goes to every
        client, and ``cancel`` with the task id throws ``Cancelled`` in at the next step. The
        answer goes to the client ``by`` and is returned (for REST)."""
        assert tool.steps is not None
        task_id = uuid.uuid4().hex[:8]
        self._cancel_asked[task_id] = False
        steps = tool.steps(self.session, args)
        try:
            self.session._check_no_move()
            step = next(steps)
            while True:
                progress = m.Progress(
                    task_id=task_id, tool=tool.name, request_id=request_id, **vars(step)
                )
                self.broadcast(progress.model_dump_json())
                await asyncio.sleep(0)
                if not self._cancel_asked[task_id]:
                    self.session._check_no_move()  # a move from a cell may have started
                step = steps.throw(Cancelled()) if self._cancel_asked[task_id] else next(steps)
        except StopIteration as end:
            self.session.record_tool(tool.name, args, end.value)
            reply = Reply(self._tool_result(tool, end.value, request_id, task_id), result=end.value)
        except Cancelled:
            reply = error_reply("cancelled", f"{tool.name} was cancelled", request_id)
        except TranspectorError as error:
            reply = error_reply("invalid", str(error), request_id)
        except torch.OutOfMemoryError as error:
            text = str(out_of_memory(error, self.session.model))
            reply = error_reply("invalid", text, request_id)
        except Exception as error:
            log.exception("transpector: %s failed", tool.name)
            reply = error_reply("internal", f"{tool.name} failed: {error!r}", request_id)
        finally:
            del self._cancel_asked[task_id]
        if by in self.clients:
            self.send(self.clients[by], reply.body)
        return reply

    def node_data(self, msg: m.RequestNodeData) -> bytes:
        tensor = self.session.node_data(msg.node, msg.what)
        what = data_source(self.session.graph, msg.node, msg.what).what
        header = m.NodeDataHeader(request_id=msg.request_id, node=msg.node, what=what,
                                  dtype=msg.dtype, shape=list(tensor.shape))  # fmt: skip
        return encode_tensor(header.model_dump_json(), tensor, msg.dtype)

    def run_outputs(self, request_id: str = "", top_k: int = 10) -> tuple[RunContext, str]:
        """The run of the current state and its summary: what a change waits for."""
        context = self.session.context()
        return context, self.summary(context, request_id, top_k)

    def summary(self, context: RunContext, request_id: str = "", top_k: int = 10) -> str:
        """The run summary of ``context``: its outputs, never logits or caches."""
        return self.session.summary(context, request_id, top_k).model_dump_json()

    def _cancel(self, msg: m.Cancel) -> list[Reply]:
        if msg.task_id in self._cancel_asked:
            self._cancel_asked[msg.task_id] = True
            return [Reply(m.Pong(request_id=msg.request_id).model_dump_json())]
        if msg.task_id == "run" and self._run_wanted:
            self._run_wanted = False
            return [error_reply("cancelled", "the pending run was cancelled", msg.request_id)]
        return [error_reply("invalid", f"no cancellable task '{msg.task_id}'", msg.request_id)]

    # ---- broadcast and coalesced runs --------------------------------------------------------
    def broadcast(self, text: Outgoing) -> None:
        for client in list(self.clients.values()):
            self.send(client, text)

    def send(self, client: Client, item: Outgoing) -> None:
        client.queue.put_nowait(item)

    def _start(self, work: Coroutine[Any, Any, Any]) -> None:
        """Start a task on the loop and keep a reference to it until it is done."""
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

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
                context, summary = self.run_outputs()
                self.broadcast(summary)
            except TranspectorError as error:
                self.broadcast(m.error_frame("invalid", str(error)))
                continue
            except Exception as error:
                log.exception("transpector: a run failed")
                self.broadcast(m.error_frame("internal", f"the run failed: {error!r}"))
                continue
            await self._after_run(context)

    async def _after_run(self, context: RunContext) -> None:
        """The after-run tools of ``context``, each in its own message, once the summary is
        out; skipped when a newer state waits to run (its own run sends them)."""
        for _ in range(2):  # let the senders write the summary first
            await asyncio.sleep(0)

        def stale() -> bool:
            return self._run_wanted or context.version != self.session.version

        for tool in AFTER_RUN:
            if stale():
                return
            args = tool.contract.args()
            try:
                if tool.parts is None:
                    assert tool.compute is not None
                    result = tool.compute(context, args)
                else:  # between parts, operations that came in land; a newer state wins
                    parts = tool.parts(context, args)
                    while True:
                        try:
                            next(parts)
                        except StopIteration as end:
                            result = end.value
                            break
                        await asyncio.sleep(0)
                        if stale():
                            return
            except TranspectorError as error:
                self.broadcast(m.error_frame("invalid", f"{tool.name}: {error}"))
                continue
            self.broadcast(self._tool_result(tool, result, ""))

    @contextlib.contextmanager
    def _acting(self, by: str, request_id: str) -> Iterator[None]:
        previous, self._actor = self._actor, (by, request_id)
        try:
            yield
        finally:
            self._actor = previous


def _unknown_op(error: ValidationError) -> bool:
    return any(e["type"] == "union_tag_invalid" for e in error.errors())
