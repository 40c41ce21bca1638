"""Out of memory and cancels, simulated on the CPU: a move that fails half-way puts every piece
back (the logits are the original ones bit for bit), a run that runs out of memory is one clear
error with the session, its version and its hooks as they were, and a model sharded over several
devices is shown as such and refused a one-device move; out of memory in a tool is one error to
the one who asked."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
import torch

import transpector
from transpector.errors import TranspectorError
from transpector.kernel import dispatch
from transpector.kernel.placement import moves
from transpector.kernel.placement.where import placement_of
from transpector.kernel.session import Session
from transpector.kernel.tools import Tool, tool_named
from transpector.kernel.tools.base import Step
from transpector.protocol import messages as m

OOM = "CUDA out of memory. Tried to allocate 2.00 GiB. GPU 0 has a total capacity of 1 GiB"


@pytest.fixture
def fresh(tiny_llama_dir: Path) -> Session:
    session = Session(transpector.load_model(tiny_llama_dir, device="cpu"))
    session.prompt = "hello world"
    return session


def failing_at(piece: int, monkeypatch: pytest.MonkeyPatch, error: BaseException) -> list[int]:
    """Make the ``piece``-th cast of a move raise ``error`` (later casts, the way back, work)."""
    real, calls = moves.cast, []

    def cast(module: Any, device: torch.device, dtype: torch.dtype) -> None:
        calls.append(1)
        if len(calls) == piece:
            raise error
        real(module, device, dtype)

    monkeypatch.setattr(moves, "cast", cast)
    return calls


def test_a_move_out_of_memory_half_way_puts_the_model_back(
    fresh: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    before, version = fresh.run(lens=False).logits, fresh.version
    calls = failing_at(3, monkeypatch, torch.OutOfMemoryError(OOM))
    with pytest.raises(TranspectorError) as caught:
        fresh.move(dtype="bfloat16")
    assert str(caught.value) == (
        f"out of memory moving the model to cpu as bfloat16: {OOM}; it is back on cpu as float32"
    )
    assert len(calls) == 4  # embed, rotary, then blocks.0 failed; the way back is one cast
    assert {p.dtype for p in fresh.model.parameters()} == {torch.float32}
    assert fresh.version == version and fresh.state.placement.dtype == "float32"
    assert torch.equal(fresh.run(lens=False).logits, before)  # the weights are restored exactly
    assert fresh.hooks() == []


def test_a_run_out_of_memory_is_one_message_and_the_session_goes_on(fresh: Session) -> None:
    before, version = fresh.run(lens=False).logits, fresh.version
    fresh.prompt = "another prompt"  # not cached: the next run runs the model

    def no_memory(*args: Any) -> None:
        raise torch.OutOfMemoryError(OOM)

    handle = fresh.model.blocks[1].register_forward_hook(no_memory)
    try:
        with pytest.raises(TranspectorError, match=r"^out of memory on cpu: CUDA out of memory\."):
            fresh.run(lens=False)
    finally:
        handle.remove()
    assert fresh.version == version + 1 and fresh.hooks() == []
    fresh.prompt = "hello world"
    assert torch.equal(fresh.run(lens=False).logits, before)


def test_a_sharded_model_lists_its_devices_and_is_not_moved_to_one(fresh: Session) -> None:
    layer = torch.nn.Module()
    layer.a = torch.nn.Linear(2, 2)
    layer.b = torch.nn.Linear(2, 2, device="meta")
    assert placement_of(layer).devices == ["cpu", "meta"]
    fresh.model.blocks[1].register_buffer("elsewhere", torch.zeros(1, device="meta"))
    version = fresh.version
    with pytest.raises(TranspectorError, match=r"sharded over cpu, meta \(device_map\); it cannot"):
        fresh.move(device="cpu")
    assert fresh.version == version


def test_out_of_memory_in_a_tool_is_one_error_to_its_sender(
    fresh: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    hub = dispatch.Dispatcher(fresh)

    def no_memory(*args: Any) -> Any:
        raise torch.OutOfMemoryError(OOM)

    monkeypatch.setattr(hub, "compute", no_memory)
    (reply,) = hub.apply(m.ToolCall(tool="top_k", request_id="t1"), "someone")
    sent = json.loads(reply.body)
    assert (sent["code"], sent["request_id"]) == ("invalid", "t1")
    assert sent["message"].startswith(f"out of memory on cpu: {OOM}; nothing was kept")

    def steps(session: Any, args: Any) -> Any:
        yield Step(0, 1)
        raise torch.OutOfMemoryError(OOM)

    long = Tool(tool_named("activation_patching").contract, steps=steps)
    reply = asyncio.run(hub.call_long(long, None, "t2", "someone"))
    sent = json.loads(reply.body)
    assert (sent["code"], sent["request_id"]) == ("invalid", "t2")
    assert sent["message"].startswith("out of memory on cpu: CUDA out of memory.")
