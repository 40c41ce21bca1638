"""Faults: an interrupt during a run, the kernel killed mid-run, a restart with a state file, and
a state file that is truncated or corrupt. Whatever happens, the session stays whole, the proxy
answers 503 in the one error shape (never a 500), and no state is lost or overwritten.

The canvas's side of a dying kernel (reconnecting, the attach help, then live again) is
tests/browser/test_canvas.py::test_restart_shows_reconnecting_and_attach_help_then_comes_back.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import queue
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

import pytest
import torch
from tornado.websocket import WebSocketClientConnection

from tests.helpers import receive_until_async as receive
from tests.reliability.kernel_cells import cell_json
from tests.server.conftest import JSON, Kernel, api, open_ws
from transpector.errors import TranspectorError
from transpector.kernel.session import Session

LONG = "A long prompt that keeps the model busy for a while, run after run"[:55]
PROMPT = "The cat sat on the mat"
REFERENCES = ["one reference prompt", "and another, longer reference prompt"]
# A zero and a mean ablation: every run of a new prompt computes with hooks on the model. One
# run first: the bridge wires its own capture hooks (4 on the tiny model) at its first forward.
SETUP = f"""
session.clear()
session.prompt = {LONG!r}
session.reference_prompts = {REFERENCES!r}
session.ablate("L0.H1")
session.ablate("L1.mlp", method="mean")
session.run(lens=False)
"""
RUN_FOREVER = f"""
import itertools
for i in itertools.count():
    session.run({LONG[:40]!r} + str(i), lens=False)
    if i == 0:
        print("running", flush=True)
"""
HOOKS = """
import json
def _torch_hooks(module):
    return sum(
        len(m._forward_hooks) + len(m._forward_pre_hooks)
        + len(m._backward_hooks) + len(m._backward_pre_hooks)
        for m in module.modules()
    )
print(json.dumps({"hooks": len(session.hooks()), "torch_hooks": _torch_hooks(model),
                  "cache": session.caches[0].model_dump()}))
"""
# The top 10 of a plain forward of these tokens with the session's interventions applied.
PLAIN_TOP_K = """
import json, torch
with torch.no_grad(), session.applied():
    _logits = model(torch.tensor([{ids}]))
_top = _logits[0, -1].float().softmax(-1).topk(10)
print(json.dumps({{"ids": _top.indices.tolist(), "probs": _top.values.tolist()}}))
"""


async def post(fetch: Any, kernel: Kernel, route: str, message: dict[str, Any]) -> Any:
    return await fetch(
        *api(kernel.id, route),
        method="POST",
        body=json.dumps(message),
        headers=dict(JSON),
        raise_error=False,
        request_timeout=120,
    )


async def check_the_next_run(fetch: Any, kernel: Kernel) -> None:
    """A run through the proxy equals a plain forward in the kernel with the interventions."""
    answer = await post(fetch, kernel, "run", {})
    assert answer.code == 200, answer.body
    summary = json.loads(answer.body)
    plain = await cell_json(kernel, PLAIN_TOP_K.format(ids=summary["token_ids"]))
    top = summary["top_k"][-1]
    assert [t["id"] for t in top] == plain["ids"]
    assert [t["prob"] for t in top] == pytest.approx(plain["probs"], abs=1e-5)


async def wait_until_running(kernel: Kernel, msg_id: str, printed: str | None = None) -> None:
    """Until the cell ``msg_id`` runs its code (or, with ``printed``, has printed that): an
    interrupt that lands while the kernel is still starting the cell may be lost."""
    while True:
        msg = await kernel.client.get_iopub_msg(timeout=60)
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        if printed is None and msg["msg_type"] == "execute_input":
            return
        if (
            msg["msg_type"] == "stream"
            and printed is not None
            and printed in msg["content"]["text"]
        ):
            return


async def shell_reply(kernel: Kernel, msg_id: str, timeout: float = 60) -> dict[str, Any]:
    while True:
        reply = await kernel.client.get_shell_msg(timeout=timeout)
        if reply["parent_header"].get("msg_id") == msg_id:
            return dict(reply["content"])


async def interrupted(jp_fetch: Any, kernel: Kernel, msg_id: str) -> dict[str, Any]:
    """Interrupt the kernel until cell ``msg_id`` answers (at most 5 times, 10 s apart): under
    load a SIGINT can land in ipykernel's own output code, which does not pass it on."""
    for _ in range(5):
        await jp_fetch("api", "kernels", kernel.id, "interrupt", method="POST", body="")
        with contextlib.suppress(queue.Empty, TimeoutError):
            return await shell_reply(kernel, msg_id, timeout=10)
    raise AssertionError("five interrupts did not stop the cell")


async def test_interrupting_runs_in_a_cell_leaves_the_session_whole(
    jp_fetch: Any, kernel: Kernel
) -> None:
    await kernel.execute(SETUP)
    state = json.loads((await jp_fetch(*api(kernel.id, "state"))).body)
    before = await cell_json(kernel, HOOKS)
    for delay in (0.1, 0.4, 0.9):  # a few points of the loop: in a forward, between runs...
        msg_id = kernel.client.execute(RUN_FOREVER)
        await wait_until_running(kernel, msg_id, printed="running")
        await asyncio.sleep(delay)
        reply = await interrupted(jp_fetch, kernel, msg_id)
        assert (reply["status"], reply["ename"]) == ("error", "KeyboardInterrupt"), reply
        # The app still answers, with the same state: the loop changed nothing.
        answer = await jp_fetch(*api(kernel.id, "state"))
        assert json.loads(answer.body)["state"] == state["state"]
    after = await cell_json(kernel, HOOKS)
    assert (after["hooks"], after["torch_hooks"]) == (before["hooks"], before["torch_hooks"])
    assert after["cache"]["bytes"] <= after["cache"]["budget_bytes"]
    await check_the_next_run(jp_fetch, kernel)


async def test_interrupting_a_tool_in_a_cell_and_the_idle_kernel_while_the_app_runs_one(
    jp_fetch: Any, jp_auth_header: dict[str, str], port: int, kernel: Kernel
) -> None:
    prompts = [f"{LONG[:45]} {i}" for i in range(300)]
    await kernel.execute(SETUP + f"session.prompts = {prompts!r}")
    before = await cell_json(kernel, HOOKS)
    # A long tool in a cell: the interrupt stops it.
    msg_id = kernel.client.execute('print("running", flush=True)\nsession.call("prompt_batch")')
    await wait_until_running(kernel, msg_id, printed="running")
    await asyncio.sleep(0.5)
    reply = await interrupted(jp_fetch, kernel, msg_id)
    assert (reply["status"], reply["ename"]) == ("error", "KeyboardInterrupt"), reply

    # The same tool run by the app while the kernel is idle: an interrupt does not stop it.
    ws = await open_ws(port, kernel.id, jp_auth_header)
    try:
        await receive(ws, "state")
        batch = asyncio.ensure_future(
            post(jp_fetch, kernel, "ops", {"op": "tool_call", "tool": "prompt_batch"})
        )
        await progress_past(ws, 10)
        await jp_fetch("api", "kernels", kernel.id, "interrupt", method="POST", body="")
        answer = await batch
    finally:
        ws.close()
    assert answer.code == 200, answer.body
    result = json.loads(answer.body)["result"]
    assert result["complete"] and len(result["rows"]) == len(prompts)
    after = await cell_json(kernel, HOOKS)
    assert (after["hooks"], after["torch_hooks"]) == (before["hooks"], before["torch_hooks"])
    await kernel.execute("session.select_prompt(7)")
    await check_the_next_run(jp_fetch, kernel)


async def progress_past(ws: WebSocketClientConnection, done: int) -> None:
    """Wait until a long tool has done ``done`` steps."""
    while (await receive(ws, "progress"))["done"] < done:
        pass


async def test_a_kernel_killed_mid_run_gets_503_and_an_error_then_1013(
    jp_fetch: Any, jp_auth_header: dict[str, str], port: int, kernel: Kernel
) -> None:
    """The server's restarter starts the kernel again; the ``kernel`` fixture then attaches."""
    prompts = [f"{LONG[:45]} {i}" for i in range(2000)]
    await kernel.execute(SETUP + f"session.prompts = {prompts!r}")
    ws = await open_ws(port, kernel.id, jp_auth_header)
    await receive(ws, "state")
    batch = asyncio.ensure_future(
        post(jp_fetch, kernel, "ops", {"op": "tool_call", "tool": "prompt_batch"})
    )
    await progress_past(ws, 10)
    os.kill(kernel.sidecar()["pid"], signal.SIGKILL)

    answer = await batch  # the request in flight when the kernel died
    assert answer.code == 503, answer.body
    body = json.loads(answer.body)
    assert (body["op"], body["code"]) == ("error", "unavailable") and body["message"], body
    frames: list[Any] = []
    while (frame := await asyncio.wait_for(ws.read_message(), 30)) is not None:
        if isinstance(frame, str):
            frames.append(json.loads(frame))
    assert ws.close_code == 1013, (ws.close_code, ws.close_reason)
    last = frames[-1]
    assert (last["op"], last["code"]) == ("error", "unavailable") and last["message"], last
    # Until a session is attached again, every route answers 503 in the same shape, and a new
    # websocket hears why before it is closed.
    for path in ("state", "graph", "run"):
        again = await post(jp_fetch, kernel, path, {}) if path == "run" else None
        again = again or await jp_fetch(*api(kernel.id, path), raise_error=False)
        assert again.code == 503, (path, again.code, again.body)
        error = json.loads(again.body)
        assert (error["op"], error["code"]) == ("error", "unavailable"), error
    late = await open_ws(port, kernel.id, jp_auth_header)
    frame = await asyncio.wait_for(late.read_message(), 30)
    assert frame is not None and json.loads(frame)["code"] == "unavailable"
    assert await asyncio.wait_for(late.read_message(), 30) is None and late.close_code == 1013
    await restarted(kernel)


async def restarted(kernel: Kernel, timeout: float = 60) -> None:
    """Wait until the server's restarter has started a killed kernel again (it polls every 3 s)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            await kernel.client.wait_for_ready(timeout=max(deadline - time.monotonic(), 1))
            return
        except RuntimeError:  # "Kernel died before replying to kernel_info": not yet
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.5)


ATTACH_WITH_STATE = """
import tempfile, torch, transpector
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from tests.conftest import boot_tiny
torch.set_num_threads(1)
stateful_model = boot_tiny(Path(tempfile.mkdtemp()))
kept = transpector.attach(stateful_model, state_file={path!r})
import json; print(json.dumps({{"restored": kept.restored}}))
"""


async def restart(jp_fetch: Any, kernel: Kernel) -> None:
    await jp_fetch("api", "kernels", kernel.id, "restart", method="POST", body="")
    await kernel.client.wait_for_ready(timeout=60)


async def test_a_restarted_kernel_gets_its_state_back_from_the_state_file(
    jp_fetch: Any, kernel: Kernel, tmp_path: Path
) -> None:
    """A second model with a state file (the app serves its session, ``kept``), then a
    restart; the ``kernel`` fixture attaches its own model again afterwards."""
    path = str(tmp_path / "session.json")
    assert await cell_json(kernel, ATTACH_WITH_STATE.format(path=path)) == {"restored": False}
    changes = [
        {"op": "set_prompts", "prompts": ["The cat sat on the mat", "A dog ran in the park!"]},
        {"op": "select_prompt", "index": 1},
        {"op": "set_reference", "prompts": REFERENCES},
        {"op": "add_intervention", "intervention": {"kind": "ablate", "node": "L0.H1"}},
        {"op": "add_intervention", "intervention": {"kind": "ablate", "node": "L1.mlp",
                                                    "method": "mean"}},
        {"op": "add_intervention", "intervention": {"kind": "patch", "node": "L1.resid_pre",
         "source": "L1.resid_pre", "source_prompt": "The cat sat on the mat"}},
        {"op": "set_note", "node": "L1.H2", "text": "copies the **subject**"},
    ]  # fmt: skip
    for change in changes:
        answer = await post(jp_fetch, kernel, "ops", {**change, "request_id": "r"})
        assert answer.code == 200, answer.body
    state = json.loads((await jp_fetch(*api(kernel.id, "state"))).body)
    run = json.loads((await post(jp_fetch, kernel, "run", {})).body)
    saved = json.loads(Path(path).read_text())
    assert saved.pop("saved_experiments") == [] and saved == state["state"]

    await restart(jp_fetch, kernel)
    assert await cell_json(kernel, ATTACH_WITH_STATE.format(path=path)) == {"restored": True}
    restored = json.loads((await jp_fetch(*api(kernel.id, "state"))).body)
    assert restored["state"] == state["state"]  # prompts, interventions, notes, version
    assert restored["session_id"] != state["session_id"]
    rerun = json.loads((await post(jp_fetch, kernel, "run", {})).body)
    assert (rerun["version"], rerun["prompt"]) == (run["version"], run["prompt"])
    assert rerun["top_k"] == run["top_k"] and rerun["loss"] == run["loss"]


# ---- an interrupt inside TransformerLens's hooks block ----------------------------------------
# Where ``model.hooks`` adds and removes hooks: an interrupt there is what can leave one behind.
HOOK_CODE = ("transformer_lens/hook_points.py", "transformer_lens/model_bridge/bridge_core.py")
HOOK_STEPS = {"add_hook", "_hooks_context", "apply_hooks", "add_hook_to_point",
              "_remove_temporary_hook"}  # fmt: skip


def interrupt_at(k: int, work: Callable[[], object]) -> int:
    """Run ``work``, raising KeyboardInterrupt (as Ctrl-C in a cell does) at the ``k``-th line
    it executes in TransformerLens's hook adding and removing; how many such lines it ran."""
    lines = 0

    def local(frame: FrameType, event: str, arg: object) -> Any:
        nonlocal lines
        if event == "line":
            lines += 1
            if lines == k:
                raise KeyboardInterrupt
        return local

    def calls(frame: FrameType, event: str, arg: object) -> Any:
        code = frame.f_code
        return (
            local if code.co_name in HOOK_STEPS and code.co_filename.endswith(HOOK_CODE) else None
        )

    sys.settrace(calls)
    try:
        work()
    except KeyboardInterrupt:
        pass
    finally:
        sys.settrace(None)
    return lines


def torch_hooks(model: Any) -> int:
    return sum(
        len(m._forward_hooks) + len(m._forward_pre_hooks) + len(m._backward_hooks)
        for m in model.modules()
    )


def test_an_interrupt_while_hooks_go_on_or_off_leaves_none_on_the_model(tiny_model: Any) -> None:
    """At every line where TransformerLens adds or removes the hooks of a run with an ablation
    and a patch: after the interrupt no hook is left (not even one torch registered that
    TransformerLens never recorded), a plain forward is clean, and the next run is right."""
    tokens = tiny_model.to_tokens(PROMPT)

    def fresh() -> Session:  # new caches: every run computes, hooks and all
        session = Session(tiny_model)
        session.prompt = PROMPT
        session.ablate("L0.H1")
        session.patch("L1.resid_pre", "L1.resid_pre", source_prompt="My cup is on the table")
        return session

    expected = fresh().run(lens=False).logits
    with torch.no_grad():
        plain = tiny_model(tokens)
    hooks = torch_hooks(tiny_model)
    total = interrupt_at(0, lambda: fresh().run(lens=False))
    assert total > 100, f"{total} lines: TransformerLens's hook code moved?"
    for k in range(1, total + 1):
        session = fresh()
        assert interrupt_at(k, lambda s=session: s.run(lens=False)) == k
        assert torch_hooks(tiny_model) == hooks and not session.hooks(), f"line {k}"
        with torch.no_grad():
            assert torch.equal(tiny_model(tokens), plain), f"line {k}"
        assert torch.equal(session.run(lens=False).logits, expected), f"line {k}"


# ---- a state file that cannot be read --------------------------------------------------------
def edited_state(tiny_model: Any, path: Path) -> str:
    """The text of a state file with some changes in it."""
    session = Session(tiny_model, state_file=path)
    session.prompts = ["The cat sat on the mat", "A dog ran in the park!"]
    session.ablate("L0.H1")
    session.set_note("L1.H2", "a note")
    return path.read_text()


def test_a_truncated_or_corrupt_state_file_is_refused_and_kept_aside(
    tiny_model: Any, tmp_path: Path
) -> None:
    path = tmp_path / "session.json"
    text = edited_state(tiny_model, path)
    broken = {
        "truncated": text[: len(text) // 2].encode(),
        "empty": b"",
        "not UTF-8": b"\xff\xfe" + text.encode()[2:],
        "an unknown node": text.replace('"L0.H1"', '"L9.H1"').encode(),
        "not a state": b'{"prompts": 3}',
    }
    kept: list[tuple[Path, bytes]] = []
    for n, (what, content) in enumerate(broken.items()):
        path.write_bytes(content)
        with pytest.warns(UserWarning) as warned:
            fresh = Session(tiny_model, state_file=path)
        message = str(warned[0].message)
        aside = tmp_path / ("session.json.corrupt" + (f".{n}" if n else ""))
        assert "starting afresh: " in message and f"kept it as {aside}" in message, what
        assert str(path) in message, what  # says which file
        assert not fresh.restored and fresh.version == 0, what
        assert not path.exists(), what
        kept.append((aside, content))
        fresh.prompt = "a new start"  # the fresh session writes a new state file
        assert json.loads(path.read_text())["prompts"] == ["a new start"]
        for earlier, earlier_content in kept:  # never overwritten
            assert earlier.read_bytes() == earlier_content, (what, earlier)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["session.json", *(p.name for p, _ in kept)]
    )
    # An explicit load of a broken file says so and moves nothing.
    path.write_bytes(broken["truncated"])
    with pytest.raises(TranspectorError, match="cannot read session state"):
        fresh.load(path)
    assert path.read_bytes() == broken["truncated"]


@pytest.mark.parametrize("cut", [0.25, 0.5, 0.99])
def test_a_state_file_cut_short_is_never_half_restored(
    tiny_model: Any, tmp_path: Path, cut: float
) -> None:
    path = tmp_path / "session.json"
    text = edited_state(tiny_model, path)
    path.write_text(text[: int(len(text) * cut)])
    with pytest.warns(UserWarning, match="cannot read session state"):
        fresh = Session(tiny_model, state_file=path)
    assert fresh.state.model_dump(exclude={"model_name"}) == Session(tiny_model).state.model_dump(
        exclude={"model_name"}
    )
