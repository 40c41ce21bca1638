"""Moves from the canvas: the ``move_model`` op reports progress to every client, the accepted
move is a ``changed`` carrying the new placement, ``cancel`` puts the model back, a bad device is
an ``error`` with the version unchanged; REST serves the placement, moves, and says that a CUDA
memory snapshot needs CUDA."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
import torch

import transpector
from transpector.kernel import dispatch
from transpector.kernel.app import create_app
from transpector.kernel.session import Session

TOKEN = "secret"
ANSWERS = ("error", "tool_result", "placed")


@pytest.fixture
def fresh(tiny_llama_dir: Path) -> Session:
    session = Session(transpector.load_model(tiny_llama_dir, device="cpu"))
    session.prompt = "hello world"
    return session


async def exchange(hub: dispatch.Dispatcher, frames: list[dict[str, Any]]) -> list[Any]:
    """Send ``frames`` from one client (a ``cancel`` goes with the first progress's task id,
    before any piece moved) and collect what it gets until the move's answer."""
    client = hub.connect()
    got: list[Any] = []
    hub.receive_text(client, json.dumps(frames[0]))
    while True:
        item = json.loads(await asyncio.wait_for(client.queue.get(), 5))
        got.append(item)
        if item["op"] == "progress" and len(frames) > 1 and item["done"] == 0:
            hub.receive_text(client, json.dumps({**frames[1], "task_id": item["task_id"]}))
        if item["op"] in ("error", "placed") and item.get("request_id") == "m1":
            return got


def test_a_move_reports_progress_and_every_client_sees_the_new_placement(fresh: Session) -> None:
    hub = dispatch.Dispatcher(fresh)
    version = fresh.version
    got = asyncio.run(
        exchange(hub, [{"op": "move_model", "dtype": "bfloat16", "request_id": "m1"}])
    )
    progress = [g for g in got if g["op"] == "progress"]
    assert [p["done"] for p in progress] == list(range(len(progress)))
    assert {p["tool"] for p in progress} == {"move_model"}
    # embed, rotary, 2 blocks, the final norm, the unembedding, then the rest
    assert progress[0]["total"] == len(progress) == 7
    changed = [g for g in got if g["op"] == "changed"]
    assert len(changed) == 1 and changed[0]["cause"] == "move_model"
    assert changed[0]["state"]["placement"]["dtype"] == "bfloat16"
    assert changed[0]["version"] == version + 1 and changed[0]["request_id"] == "m1"
    assert got[-1]["op"] == "placed"
    placed = got[-1]["placement"]
    assert placed["dtype"] == "bfloat16" and placed["devices"] == ["cpu"]
    assert fresh.model.cfg.dtype == torch.bfloat16


def test_cancel_puts_the_model_back(fresh: Session) -> None:
    before, version = fresh.run(lens=False).logits, fresh.version
    hub = dispatch.Dispatcher(fresh)
    frames = [{"op": "move_model", "dtype": "float16", "request_id": "m1"}, {"op": "cancel"}]
    got = asyncio.run(exchange(hub, frames))
    assert got[-1]["code"] == "cancelled"
    assert got[-1]["message"] == "the move was cancelled; the model is on cpu as float32"
    assert fresh.version == version and not [g for g in got if g["op"] == "changed"]
    assert torch.equal(fresh.run(lens=False).logits, before)


def test_a_missing_device_is_one_error_to_the_sender(fresh: Session) -> None:
    hub = dispatch.Dispatcher(fresh)
    version = fresh.version
    move = {"op": "move_model", "device": "cuda:7", "request_id": "m1"}
    got = asyncio.run(exchange(hub, [move]))
    assert got[-1]["code"] == "invalid"
    assert got[-1]["message"].startswith(
        "there is no device 'cuda:7' here; the devices here are cpu"
    )
    assert fresh.version == version


def test_rest_placement_move_and_memory_snapshot(fresh: Session) -> None:
    hub = dispatch.Dispatcher(fresh)
    app = create_app(hub, TOKEN)

    async def calls() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        headers = {"X-Transpector-Token": TOKEN}
        async with httpx.AsyncClient(
            transport=transport, base_url="http://k", headers=headers
        ) as c:
            return [
                await c.get("/api/placement"),
                await c.post("/api/placement", json={"dtype": "bfloat16"}),
                await c.post("/api/placement", json={"device": "nonsense"}),
                await c.get("/api/memory/snapshot.html"),
                await c.post("/api/memory/record"),
            ]

    placement, moved, bad, snapshot, record = asyncio.run(calls())
    assert placement.json()["dtype"] == "float32" and placement.json()["available"] == ["cpu"]
    assert moved.status_code == 200 and moved.json()["dtype"] == "bfloat16"
    assert bad.status_code == 400 and "'nonsense' is not a device" in bad.json()["message"]
    assert snapshot.status_code == 400
    assert snapshot.json()["message"].startswith("a CUDA memory snapshot needs a CUDA device")
    assert record.status_code == 400 and "recording CUDA memory needs" in record.json()["message"]


def test_a_move_waits_for_a_long_tool_and_a_long_tool_for_a_move(fresh: Session) -> None:
    """Both run on the model between awaits: a move asked while a long tool runs is refused,
    and a long tool asked while a move runs stops with the same kind of error; the model ends
    where the move put it and the tool, asked again, runs."""
    hub = dispatch.Dispatcher(fresh)
    batch = {"op": "tool_call", "tool": "prompt_batch", "args": {}}
    move = {"op": "move_model", "dtype": "bfloat16"}

    async def answers(first: dict[str, Any], second: dict[str, Any]) -> dict[str, Any]:
        client = hub.connect()
        hub.receive_text(client, json.dumps({**first, "request_id": "a"}))
        while True:  # until the first is under way
            item = json.loads(await asyncio.wait_for(client.queue.get(), 5))
            if item["op"] == "progress" and item["request_id"] == "a":
                break
        hub.receive_text(client, json.dumps({**second, "request_id": "b"}))
        got: dict[str, Any] = {}
        while len(got) < 2:
            item = json.loads(await asyncio.wait_for(client.queue.get(), 10))
            if item.get("request_id") in ("a", "b") and item["op"] in ANSWERS:
                got[item["request_id"]] = item
        return got

    fresh.prompts = [f"prompt number {i}" for i in range(40)]  # still running when asked
    got = asyncio.run(answers(batch, move))
    assert got["b"]["op"] == "error" and "under way" in got["b"]["message"]
    assert got["a"]["op"] == "tool_result" and fresh.placement.dtype == "float32"
    got = asyncio.run(answers(move, batch))
    assert got["a"]["op"] == "placed" and fresh.placement.dtype == "bfloat16"
    assert got["b"]["op"] == "error" and "being moved" in got["b"]["message"]
    assert fresh.call("prompt_batch").rows  # type: ignore[attr-defined]
