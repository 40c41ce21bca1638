"""The websocket through the authenticated proxy to a real kernel's app: a round trip with a
binary frame, and bad input (REST and websocket) that the connection survives."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from tornado.websocket import WebSocketClientConnection

from tests.helpers import parse_frame
from tests.helpers import receive_until_async as receive
from tests.server.conftest import JSON, Kernel, api, open_ws


async def receive_binary(ws: WebSocketClientConnection, timeout: float = 30) -> bytes:
    while True:
        frame = await asyncio.wait_for(ws.read_message(), timeout)
        assert frame is not None, f"closed: {ws.close_code} {ws.close_reason}"
        if isinstance(frame, bytes):
            return frame


async def test_websocket_round_trip_through_the_proxy(
    jp_auth_header: dict[str, str], port: int, kernel: Kernel
) -> None:
    ws = await open_ws(port, kernel.id, jp_auth_header)
    try:
        hello = await receive(ws, "state")
        await ws.write_message(
            json.dumps({"op": "set_prompt", "prompt": "by ws", "request_id": "w"})
        )
        changed = await receive(ws, "changed")
        assert changed["version"] == hello["version"] + 1 and changed["request_id"] == "w"
        summary = await receive(ws, "run_summary")
        assert summary["prompt"] == "by ws"
        await ws.write_message(json.dumps({"op": "node_data", "node": "L1.H2", "dtype": "float32"}))
        frame = await receive_binary(ws)
        assert parse_frame(frame).header["node"] == "L1.H2"
    finally:
        ws.close()


async def test_malformed_json_gets_a_4xx_and_the_websocket_survives_an_unknown_op(
    jp_fetch: Any, jp_auth_header: dict[str, str], port: int, kernel: Kernel
) -> None:
    bad = await jp_fetch(
        *api(kernel.id, "ops"),
        method="POST",
        body="{not json",
        headers=dict(JSON),
        raise_error=False,
    )
    assert 400 <= bad.code < 500, bad.code
    assert json.loads(bad.body)  # the app's JSON explanation, passed through
    ws = await open_ws(port, kernel.id, jp_auth_header)
    try:
        await receive(ws, "state")
        await ws.write_message(json.dumps({"op": "explode", "request_id": "u"}))
        assert (await receive(ws, "error"))["code"] == "unknown_op"
        await ws.write_message(bytes(12 << 20), binary=True)  # over the 1 MiB frame limit
        assert (await receive(ws, "error"))["code"] == "too_large"
        await ws.write_message(bytes(100), binary=True)  # the app takes no binary frames
        assert (await receive(ws, "error"))["code"] == "bad_request"
        await ws.write_message(json.dumps({"op": "ping", "request_id": "p"}))
        assert (await receive(ws, "pong"))["request_id"] == "p"
    finally:
        ws.close()


async def test_one_frame_limit_in_bytes_and_the_connection_stays(
    jp_auth_header: dict[str, str], port: int, kernel: Kernel
) -> None:
    """1 MiB of UTF-8, counted in bytes: 600,000 two-byte characters are over it although they
    are fewer characters; 20 MiB (once a closed connection) gets the same answer."""
    from transpector.protocol.messages import MAX_FRAME_BYTES

    ws = await open_ws(port, kernel.id, jp_auth_header)
    try:
        hello = await receive(ws, "state")
        under = json.dumps({"op": "ping", "request_id": "é" * 60, "x": 1})
        for frame in ("\u00e9" * 600_000, "x" * (20 << 20), under + " " * (MAX_FRAME_BYTES + 1)):
            await ws.write_message(frame)
            error = await receive(ws, "error")
            assert error["code"] == "too_large" and f"{MAX_FRAME_BYTES} bytes" in error["message"]
        await ws.write_message(json.dumps({"op": "ping", "request_id": "p"}))
        assert (await receive(ws, "pong"))["request_id"] == "p"
        await ws.write_message(json.dumps({"op": "set_prompt", "prompt": "caf\u00e9"}))
        assert (await receive(ws, "changed"))["version"] == hello["version"] + 1
    finally:
        ws.close()
