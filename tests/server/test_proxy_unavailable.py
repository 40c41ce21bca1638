"""When the kernel's app cannot answer at once through the proxy: no session (503 with the attach
hint), an unknown kernel (404), a cell that blocks the kernel, and a restart."""

from __future__ import annotations

import asyncio
import json
import os
import time
from typing import Any

import pytest
from tornado.httpclient import HTTPClientError
from tornado.websocket import WebSocketClientConnection

from tests.helpers import receive_until_async as receive
from tests.live_kernel import ATTACH_TINY
from tests.server.conftest import KERNEL_STATES, Kernel, api, open_ws


async def closed_with(ws: WebSocketClientConnection, timeout: float = 30) -> tuple[list[Any], int]:
    """Every text frame until the server closes, and its close code."""
    frames: list[Any] = []
    while (frame := await asyncio.wait_for(ws.read_message(), timeout)) is not None:
        if isinstance(frame, str):
            frames.append(json.loads(frame))
    assert ws.close_code is not None
    return frames, ws.close_code


async def test_a_kernel_without_a_session_answers_503_with_the_attach_hint(
    jp_fetch: Any, jp_auth_header: dict[str, str], port: int, bare_kernel: Kernel
) -> None:
    answer = await jp_fetch(*api(bare_kernel.id, "graph"), raise_error=False)
    assert answer.code == 503
    assert json.loads(answer.body) == {
        "op": "error",
        "v": 1,
        "code": "unavailable",
        "message": "no Transpector session in this kernel: "
        "run transpector.attach(model) in the notebook",
        "request_id": "",
    }
    assert answer.headers["X-Transpector-Kernel-State"] in KERNEL_STATES
    ws = await open_ws(port, bare_kernel.id, jp_auth_header)
    frames, code = await closed_with(ws)
    assert code == 1013 and "transpector.attach(model)" in (ws.close_reason or "")
    assert frames[0]["op"] == "error" and "transpector.attach" in frames[0]["message"]


async def test_an_unknown_kernel_answers_404(
    jp_fetch: Any, jp_auth_header: dict[str, str], port: int
) -> None:
    unknown = "00000000-0000-0000-0000-000000000000"
    answer = await jp_fetch(*api(unknown, "graph"), raise_error=False)
    assert answer.code == 404
    body = json.loads(answer.body)
    assert (body["op"], body["code"]) == ("error", "not_found")
    assert body["message"] == f"no running kernel with id '{unknown}'"
    with pytest.raises(HTTPClientError) as refused:
        await open_ws(port, unknown, jp_auth_header)
    assert refused.value.code == 404


async def test_a_request_during_a_blocking_cell_is_answered_when_the_cell_ends(
    jp_fetch: Any, kernel: Kernel
) -> None:
    msg_id = kernel.client.execute("import time; time.sleep(3)")
    while True:  # wait until the kernel runs the cell
        msg = await kernel.client.get_iopub_msg(timeout=30)
        if msg["parent_header"].get("msg_id") == msg_id and msg["msg_type"] == "execute_input":
            break
    started = time.monotonic()
    answer = await jp_fetch(*api(kernel.id, "state"), request_timeout=60)
    waited = time.monotonic() - started
    assert answer.code == 200 and json.loads(answer.body)["op"] == "state"
    assert waited > 1.5, f"answered after {waited:.1f} s: the cell did not block the app?"
    assert answer.headers["X-Transpector-Kernel-State"] in KERNEL_STATES
    reply = await kernel.client.get_shell_msg(timeout=30)
    assert reply["parent_header"]["msg_id"] == msg_id and reply["content"]["status"] == "ok"


async def test_after_a_restart_the_proxy_answers_503_until_attach_runs_again(
    jp_fetch: Any, jp_auth_header: dict[str, str], port: int, kernel: Kernel
) -> None:
    """The ``kernel`` fixture attaches again if this fails half way."""
    before = kernel.sidecar()
    watching = await open_ws(port, kernel.id, jp_auth_header)
    await receive(watching, "state")
    await jp_fetch("api", "kernels", kernel.id, "restart", method="POST", body="")
    await kernel.client.wait_for_ready(timeout=60)
    frames, code = await closed_with(watching)  # the open canvas hears why
    assert code == 1013 and frames[-1]["op"] == "error" and "gone" in frames[-1]["message"]

    answer = await jp_fetch(*api(kernel.id, "graph"), raise_error=False)
    assert answer.code == 503, answer.body
    assert "transpector.attach(model)" in json.loads(answer.body)["message"]

    # A sidecar the old kernel left behind: its pid is dead, then (our pid) its port is closed.
    for pid in (before["pid"], os.getpid()):
        kernel.sidecar_path.write_text(json.dumps(dict(before, pid=pid)))
        stale = await jp_fetch(*api(kernel.id, "graph"), raise_error=False)
        assert stale.code == 503, (pid, stale.body)
        message = json.loads(stale.body)["message"]
        assert "gone" in message and "transpector.attach(model)" in message
        ws = await open_ws(port, kernel.id, jp_auth_header)
        frames, code = await closed_with(ws)
        assert code == 1013 and frames[0]["op"] == "error" and "gone" in frames[0]["message"]

    await kernel.execute(ATTACH_TINY)
    graph = await jp_fetch(*api(kernel.id, "graph"))
    assert json.loads(graph.body)["n_layers"] == 2
    assert kernel.sidecar()["url"] != before["url"] or kernel.sidecar()["pid"] != before["pid"]
