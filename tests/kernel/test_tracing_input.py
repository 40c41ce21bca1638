"""Causal tracing given bad input or cancelled: one clear message each, and the session's state,
version and hooks exactly as they were."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import boot_tiny
from transpector.errors import TranspectorError
from transpector.kernel import dispatch
from transpector.kernel.session import Session
from transpector.kernel.tools.base import Cancelled, Step
from transpector.kernel.tools.tracing import CAUSAL_TRACING
from transpector.protocol.tracing import TracingArgs, TracingResult

HELLO = {"text": "hello world", "subject": "hello"}
BAD: list[tuple[dict[str, Any], str]] = [
    ({"subject": "Hello"}, "the subject 'Hello' is not in the prompt 'hello world'; give a part"),
    ({**HELLO, "answer": " Paris"}, r"' Paris' is 6 tokens \(' ', 'P', 'a', 'r', 'i', 's'\)"),
    ({**HELLO, "samples": 0}, "causal_tracing: samples: Input should be greater than or equal"),
    ({"text": "", "subject": "a"}, "causal_tracing: text: String should have at least 1 character"),
    ({"text": "   ", "subject": " "}, "the prompt is empty; type some text"),
    ({"text": "hello \ud800", "subject": "hello"}, "text: Input should be a valid string"),
    ({"text": "hello world"}, "causal tracing needs the subject to noise: subject='...'"),
    ({**HELLO, "positions": [1]}, "give the subject or its token positions, not both"),
    ({"positions": []}, r"positions=\[\] is empty: give the subject's token positions"),
    ({"positions": [3, 12]}, r"positions \[12\] out of range for 12 tokens \(the subject\)"),
    ({"subject": ""}, "causal_tracing: subject: String should have at least 1 character"),
    ({**HELLO, "kinds": []}, "causal_tracing: kinds: List should have at least 1 item"),
    ({**HELLO, "kinds": ["resid_post"]}, "kinds.0: Input should be 'resid_pre', 'mlp_out'"),
    ({**HELLO, "window": 0}, "causal_tracing: window: Input should be greater than or equal to 1"),
    ({**HELLO, "noise_scale": -1}, "noise_scale: Input should be greater than or equal to 0"),
    ({**HELLO, "seed": -1}, "causal_tracing: seed: Input should be greater than or equal to 0"),
    ({**HELLO, "copies_per_forward": 0}, "copies_per_forward: Input should be greater than"),
    ({"text": "x" * 70, "subject": "x"}, "the prompt has 71 tokens; this model takes at most 64"),
]  # fmt: skip


def unchanged(session: Session) -> tuple[Any, ...]:
    return session.version, session.state.model_dump(), session.hooks()


@pytest.mark.parametrize(("args", "message"), BAD, ids=[str(i) for i in range(len(BAD))])
def test_bad_input_says_what_is_wrong_and_leaves_the_session(
    session: Session, args: dict[str, Any], message: str
) -> None:
    session.ablate("L0.H1")
    before = unchanged(session)
    with pytest.raises(TranspectorError, match=message):
        session.tools.causal_tracing(**args)
    assert unchanged(session) == before


def test_an_mlp_trace_of_a_model_without_mlps(tmp_path: Path) -> None:
    session = Session(boot_tiny(tmp_path, attn_only=True))
    before = unchanged(session)
    with pytest.raises(TranspectorError, match=r"the mlp_out trace needs L0.mlp: this model has "
                       r"none \(an attention-only model\)"):  # fmt: skip
        session.tools.causal_tracing(**HELLO, kinds=["mlp_out"])
    assert unchanged(session) == before
    result = session.tools.causal_tracing(**HELLO, samples=1)  # by default, the kinds it has
    assert isinstance(result, TracingResult)
    assert [t.kind for t in result.traces] == ["resid_pre", "attn_out"]
    assert result.note == "no mlp_out trace: the model has no such node"


def test_a_cancel_mid_trace_ends_the_steps_and_leaves_no_hook(session: Session) -> None:
    session.ablate("L0.H1")
    before = unchanged(session)
    assert CAUSAL_TRACING.steps is not None
    steps = CAUSAL_TRACING.steps(session, TracingArgs(**HELLO, samples=1, copies_per_forward=1))
    assert next(steps) == Step(0, 72, "clean and noised runs")
    assert next(steps).label == "noised runs"
    assert next(steps).label == "resid_pre from L0"
    with pytest.raises(Cancelled):
        steps.throw(Cancelled())
    assert unchanged(session) == before
    with pytest.raises(StopIteration):  # the trace is over, not paused
        next(steps)


def test_a_cancel_from_a_client_is_a_cancelled_error(session: Session) -> None:
    before = unchanged(session)
    sent: list[dict[str, Any]] = []

    async def scenario() -> None:
        dispatcher = dispatch.Dispatcher(session)
        client = dispatcher.connect()
        call = {"op": "tool_call", "tool": "causal_tracing", "request_id": "t1",
                "args": {**HELLO, "samples": 1, "copies_per_forward": 1}}  # fmt: skip
        dispatcher.receive_text(client, json.dumps(call))
        while not (sent and sent[-1]["op"] in ("error", "tool_result") and sent[-1]["request_id"]):
            sent.append(json.loads(await client.queue.get()))
            if sent[-1]["op"] == "progress" and sent[-1]["label"].startswith("resid_pre"):
                cancel = {"op": "cancel", "task_id": sent[-1]["task_id"], "request_id": "c1"}
                dispatcher.receive_text(client, json.dumps(cancel))

    asyncio.run(asyncio.wait_for(scenario(), 30))
    assert sent[-1]["op"] == "error", sent[-1]
    assert (sent[-1]["code"], sent[-1]["request_id"]) == ("cancelled", "t1")
    assert sent[-1]["message"] == "causal_tracing was cancelled"
    done = [m["done"] for m in sent if m["op"] == "progress"]
    assert done[0] == 0 and max(done) < 72
    assert unchanged(session) == before
