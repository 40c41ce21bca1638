"""Websocket abuse through the Jupyter proxy: hostile frames, each answered by one ``error`` with
a precise code; after each, the connection is open (a ``ping`` is answered) and the session's
version is what ``GET .../api/state`` said before (DESIGN invariant 7)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

from tornado.websocket import WebSocketClientConnection

from tests.server.conftest import Kernel, api, open_ws

ABLATE = {"kind": "ablate", "node": "L0.H1", "method": "resample"}
NESTED_DEPTH = 100_000  # far deeper than any parser's recursion limit, 600 KB
PARSABLE_DEPTH = 400  # parses; every layer must still be handled without recursion trouble
DEEPEST = 900  # near the parser's limit (about 1,000 with Python's default recursion limit)


def nested_objects(depth: int, inner: str = "1") -> str:
    return '{"a":' * depth + inner + "}" * depth


def nested_lists(depth: int) -> str:
    return "[" * depth + "]" * depth


class RawText(bytes):
    """Bytes sent in a text frame (opcode 1) as they are: tornado's client writes bytes given
    with ``binary=False`` unchanged, so these need not be UTF-8."""


def frame(**fields: Any) -> str:
    return json.dumps(fields)


# (what, the frame, the error code it must get, whether the error names its request id)
HOSTILE: list[tuple[str, str | bytes, str, bool]] = [
    (
        "resample seed out of int64",
        frame(op="add_intervention", request_id="r1", intervention={**ABLATE, "seed": 2**64}),
        "invalid",
        True,
    ),
    ("[ x 1000", "[" * 1000, "bad_request", False),
    (
        "freeze of an empty prompt",
        frame(
            op="add_intervention",
            request_id="r2",
            intervention={"kind": "freeze", "node": "L0.H1", "prompt": ""},
        ),
        "invalid",
        True,
    ),
    (
        "node id with a trailing newline",
        frame(op="add_intervention", request_id="r3", intervention={**ABLATE, "node": "L0.H1\n"}),
        "invalid",
        True,
    ),
    (
        "node id with Arabic-Indic digits",
        frame(
            op="add_intervention",
            request_id="r4",
            intervention={**ABLATE, "node": "L\u0660.H\u0661"},
        ),
        "invalid",
        True,
    ),
    (
        "note on a node id with Arabic-Indic digits",
        frame(op="set_note", request_id="r5", node="L\u0660.H\u0661", text="x"),
        "invalid",
        True,
    ),
    (
        "prompt with a lone surrogate",
        '{"op": "set_prompt", "request_id": "r6", "prompt": "caf\\ud800e"}',
        "invalid",
        True,
    ),
    (
        "600,000 x é: over 1 MiB of UTF-8, under 1 MiB of characters",
        "\u00e9" * 600_000,
        "too_large",
        False,
    ),
    ("a 20 MiB text frame", "x" * (20 << 20), "too_large", False),
    ("a 20 MiB binary frame", bytes(20 << 20), "too_large", False),
    (
        "invalid UTF-8 in a text frame",
        RawText(b'{"op": "ping", "x": "\xff\xfe\xc3("}'),
        "bad_request",
        False,
    ),
    ("a truncated UTF-8 sequence in a text frame", RawText(b"\xe2\x82"), "bad_request", False),
    ("binary garbage", bytes(range(256)) * 4, "bad_request", False),
    ("JSON as a binary frame", frame(op="ping", request_id="b").encode(), "bad_request", False),
    ("not JSON", "{not json", "bad_request", False),
    ("JSON that is not an object", "[1, 2, 3]", "invalid", False),
    ("unknown op", frame(op="explode", request_id="r7"), "unknown_op", True),
    ("no op", frame(request_id="r8", prompt="x"), "invalid", True),
    ("missing field", frame(op="set_prompt", request_id="r9"), "invalid", True),
    ("wrong type", frame(op="set_prompt", request_id="r10", prompt=5), "invalid", True),
    ("negative top_k", frame(op="run", request_id="r11", top_k=-1), "invalid", True),
    ("op not a string", frame(op=5, request_id="r12"), "invalid", True),
    ("op a list", frame(op=["ping"], request_id="r13"), "invalid", True),
    ("unknown field", frame(op="ping", request_id="r14", extra=1), "invalid", True),
    ("request id too long", frame(op="ping", request_id="x" * 65), "invalid", False),
    ("request id an object", '{"op": "ping", "request_id": {"a": 1}}', "invalid", False),
    (
        f"objects nested {NESTED_DEPTH} deep",
        nested_objects(NESTED_DEPTH),
        "bad_request",
        False,
    ),
    (
        f"objects nested {PARSABLE_DEPTH} deep as a tool's args",
        '{"op": "tool_call", "request_id": "r15", "tool": "top_k", "args": '
        + nested_objects(PARSABLE_DEPTH)
        + "}",
        "invalid",
        True,
    ),
    (
        f"lists nested {PARSABLE_DEPTH} deep as the request id",
        '{"op": "ping", "request_id": ' + nested_lists(PARSABLE_DEPTH) + "}",
        "invalid",
        False,
    ),
    (
        f"lists nested {DEEPEST} deep as the request id",
        '{"op": "ping", "request_id": ' + nested_lists(DEEPEST) + "}",
        "invalid",
        False,
    ),
    (
        f"objects nested {PARSABLE_DEPTH} deep as a prompt",
        '{"op": "set_prompt", "request_id": "r16", "prompt": '
        + nested_objects(PARSABLE_DEPTH)
        + "}",
        "invalid",
        True,
    ),
    (
        "huge integer (5,000 digits)",
        '{"op": "select_prompt", "index": 1' + "0" * 5000 + "}",
        "bad_request",
        False,
    ),
    (
        "huge integer (100 digits)",
        frame(op="select_prompt", request_id="r17", index=10**100),
        "invalid",
        True,
    ),
    (
        "huge float",
        '{"op": "select_prompt", "request_id": "r18", "index": 1e400}',
        "invalid",
        True,
    ),
    ("NaN top_k", '{"op": "run", "request_id": "r19", "top_k": NaN}', "invalid", True),
    (
        "remove an unknown intervention",
        frame(op="remove_intervention", request_id="r20", id="no"),
        "invalid",
        True,
    ),
    (
        "select a prompt that is not there",
        frame(op="select_prompt", request_id="r21", index=-1),
        "invalid",
        True,
    ),
    (
        "NUL in a node id",
        frame(op="set_note", request_id="r22", node="L0.H1\x00", text="x"),
        "invalid",
        True,
    ),
    ("empty text frame", "", "bad_request", False),
]


async def next_text(ws: WebSocketClientConnection, timeout: float = 30) -> dict[str, Any]:
    while True:
        message = await asyncio.wait_for(ws.read_message(), timeout)
        assert message is not None, (
            f"the proxy closed the connection: {ws.close_code} {ws.close_reason}"
        )
        if isinstance(message, str):
            return dict(json.loads(message))


async def answers_until_pong(ws: WebSocketClientConnection, ping_id: str) -> list[dict[str, Any]]:
    """Every text message up to the pong of ``ping_id`` (which proves the connection open)."""
    await ws.write_message(json.dumps({"op": "ping", "request_id": ping_id}))
    seen = []
    while True:
        message = await next_text(ws)
        if message["op"] == "pong" and message.get("request_id") == ping_id:
            return seen
        seen.append(message)


async def test_hostile_frames_get_a_precise_error_and_break_nothing(
    jp_fetch: Callable[..., Any], jp_auth_header: dict[str, str], port: int, kernel: Kernel
) -> None:
    async def rest_version() -> int:
        return int(json.loads((await jp_fetch(*api(kernel.id, "state"))).body)["version"])

    ws = await open_ws(port, kernel.id, jp_auth_header)
    tried = 0
    try:
        hello = await next_text(ws)
        assert hello["op"] == "state"
        version = await rest_version()
        assert hello["version"] == version
        await answers_until_pong(ws, "settle")
        wrong: list[str] = []
        for index, (what, hostile, code, named) in enumerate(HOSTILE):
            binary = isinstance(hostile, bytes) and not isinstance(hostile, RawText)
            await ws.write_message(hostile, binary=binary)
            tried += 1
            seen = await answers_until_pong(ws, f"after-{index}")
            errors = [m for m in seen if m["op"] == "error"]
            changes = [m for m in seen if m["op"] == "changed"]
            if len(errors) != 1 or errors[0]["code"] != code or changes:
                got = [(m["op"], m.get("code"), m.get("message", "")[:120]) for m in seen]
                wrong.append(f"{what}: wanted one {code} error, got {got}")
                continue
            if named:
                sent = json.loads(hostile)["request_id"]
                if errors[0]["request_id"] != sent:
                    wrong.append(f"{what}: the error names request {errors[0]['request_id']!r}")
            assert errors[0]["message"], what
            now = await rest_version()
            if now != version:
                wrong.append(f"{what}: the version moved from {version} to {now}")
                version = now
        assert not wrong, "\n".join(wrong)
        # the session still takes a good change, and the connection is the same one
        await ws.write_message(json.dumps({"op": "set_note", "node": "L0.H1", "text": "ok"}))
        changed = await next_text(ws)
        while changed["op"] != "changed":
            changed = await next_text(ws)
        assert changed["version"] == version + 1 == await rest_version()
    finally:
        ws.close()
    print(f"\nwebsocket abuse: {tried} hostile frames, each answered, connection kept")
    assert tried == len(HOSTILE) >= 30
