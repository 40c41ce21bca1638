"""Helpers for tests and benches: a free port, waiting for one websocket message, and parsing
the kernel app's binary tensor frames."""

from __future__ import annotations

import asyncio
import json
import socket
import struct
import time
from typing import Any, NamedTuple


def free_port() -> int:
    """A port on 127.0.0.1 that was free a moment ago (the probe socket is closed again)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wanted(frame: str | bytes, op: str, request_id: str | None) -> bool:
    if not isinstance(frame, str):
        return False
    message = json.loads(frame)
    return bool(message["op"] == op and request_id in (None, message.get("request_id")))


def receive_text_until(ws: Any, op: str, timeout: float = 30, request_id: str | None = None) -> str:
    """The next text frame with ``op`` (and ``request_id``, when given), as sent, from a
    ``websockets.sync`` connection; other frames are skipped."""
    deadline = time.monotonic() + timeout
    while True:
        frame = ws.recv(timeout=max(deadline - time.monotonic(), 0.01))
        if _wanted(frame, op, request_id):
            return str(frame)


def receive_until(
    ws: Any, op: str, timeout: float = 30, request_id: str | None = None
) -> dict[str, Any]:
    """The next text message with ``op`` (and ``request_id``, when given)."""
    return dict(json.loads(receive_text_until(ws, op, timeout, request_id)))


async def receive_until_async(
    ws: Any, op: str, timeout: float = 30, request_id: str | None = None
) -> dict[str, Any]:
    """``receive_until`` on a tornado ``WebSocketClientConnection``; AssertionError if the
    socket closes first."""
    deadline = time.monotonic() + timeout
    while True:
        frame = await asyncio.wait_for(ws.read_message(), max(deadline - time.monotonic(), 0.01))
        assert frame is not None, f"closed: {ws.close_code} {ws.close_reason}"
        if _wanted(frame, op, request_id):
            return dict(json.loads(frame))


class Frame(NamedTuple):
    header: dict[str, Any]
    data: bytes  # the raw little-endian values
    data_offset: int  # where the values start in the frame


def parse_frame(frame: bytes) -> Frame:
    """A binary tensor frame (transpector/kernel/frames.py): a 4-byte little-endian header
    length, the JSON header, then the raw values."""
    (length,) = struct.unpack("<I", frame[:4])
    return Frame(dict(json.loads(frame[4 : 4 + length])), frame[4 + length :], 4 + length)
