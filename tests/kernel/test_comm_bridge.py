"""The kernel app over a comm (CommBridge): the same frames a websocket client gets, binary node
data as a buffer, REST reads answered in-process with the app's own status and error shape, and
nothing more after a disconnect."""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any

import pytest
import torch

from transpector import TranspectorError
from transpector.kernel.app import create_app
from transpector.kernel.comm_bridge import CommBridge
from transpector.kernel.dispatch import Dispatcher
from transpector.kernel.session import Session

Sent = list[tuple[dict[str, Any], list[bytes]]]


def ops(sent: Sent) -> list[str]:
    return [
        json.loads(c["text"])["op"] for c, _ in sent if c.get("kind") == "frame" and "text" in c
    ]


async def bridged(session: Session, buffers: bool = True) -> tuple[CommBridge, Sent]:
    hub = Dispatcher(session)
    sent: Sent = []
    bridge = CommBridge(
        hub, create_app(hub, "secret"), "secret", lambda c, b: sent.append((c, b)),
        asyncio.get_running_loop(), buffers=buffers,
    )  # fmt: skip
    return bridge, sent


async def settle() -> None:
    for _ in range(50):
        await asyncio.sleep(0.01)


def test_frames_replies_and_binary_data_over_the_comm(session: Session) -> None:
    async def journey() -> None:
        bridge, sent = await bridged(session)
        bridge.receive({"kind": "connect"})
        bridge.receive({"kind": "get", "id": 1, "path": "graph"})
        bridge.receive({"kind": "get", "id": 2, "path": "experiments/diff?a=x&b=y"})
        bridge.receive({"kind": "get", "id": 3, "method": "POST", "path": "run"})
        await settle()
        assert ops(sent)[:2] == ["state", "run_summary"]
        replies = {c["id"]: (c, b) for c, b in sent if c["kind"] == "reply"}
        graph, body = replies[1]
        assert graph["status"] == 200 and graph["type"] == "application/json"
        assert json.loads(body[0]) == session.graph.model_dump(mode="json")
        refused, body = replies[2]
        assert (
            refused["status"] == 400 and "no experiment named 'x'" in json.loads(body[0])["message"]
        )
        assert replies[3][0]["status"] == 405

        sent.clear()
        text = json.dumps({"op": "node_data", "node": "L0.H1", "request_id": "n1"})
        bridge.receive({"kind": "op", "text": text})
        bridge.receive({"kind": "op", "text": json.dumps({"op": "set_prompt", "prompt": "abc"})})
        await settle()
        binary = [b[0] for c, b in sent if c["kind"] == "frame" and "text" not in c]
        assert len(binary) == 1
        size = int.from_bytes(binary[0][:4], "little")
        header = json.loads(binary[0][4 : 4 + size])
        assert header["node"] == "L0.H1" and header["shape"] == [12, 12]
        pattern = torch.frombuffer(bytearray(binary[0][4 + size :]), dtype=torch.float32)
        assert torch.allclose(
            pattern.reshape(12, 12), session.node_data("L0.H1", prompt="hello world")
        )
        assert "changed" in ops(sent) and session.prompt == "abc"

        bridge.receive({"kind": "disconnect"})
        await settle()
        sent.clear()
        session.prompt = "after"
        await settle()
        assert sent == []
        bridge.close()

    asyncio.run(journey())


def test_without_buffers_binary_parts_travel_as_base64(session: Session) -> None:
    async def journey() -> None:
        bridge, sent = await bridged(session, buffers=False)
        bridge.receive({"kind": "connect"})
        bridge.receive({"kind": "get", "id": 1, "path": "graph"})
        bridge.receive({"kind": "op", "text": json.dumps({"op": "node_data", "node": "L0.H1"})})
        await settle()
        assert all(buffers == [] for _, buffers in sent)
        reply = next(c for c, _ in sent if c["kind"] == "reply")
        graph = json.loads(base64.b64decode(reply["b64"]))
        assert graph == session.graph.model_dump(mode="json")
        frame = base64.b64decode(
            next(c["b64"] for c, _ in sent if "b64" in c and c["kind"] == "frame")
        )
        size = int.from_bytes(frame[:4], "little")
        assert json.loads(frame[4 : 4 + size])["node"] == "L0.H1"
        bridge.close()

    asyncio.run(journey())


@pytest.mark.parametrize(
    ("view", "node", "message"),
    [
        ("graphs", None, "no view 'graphs': choose one of canvas, topk"),
        ("attention", None, "the attention view needs node="),
        ("attention", "L9.H0", "unknown node 'L9.H0'"),
        ("neuron", "L0.mlp.N256", "L0.mlp has 256 neurons"),
        ("lens", None, "the widget runs in a Jupyter kernel"),
    ],
)
def test_a_view_that_cannot_be_shown_says_why(
    session: Session, view: str, node: str | None, message: str
) -> None:
    version = session.version
    with pytest.raises(TranspectorError, match=message):
        session.show(view, node=node)
    assert session.version == version
