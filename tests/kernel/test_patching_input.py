"""Activation patching sweeps given bad input or cancelled: one clear message each, and the
session's state, version and hooks exactly as they were."""

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
from transpector.kernel.tools.patching import ACTIVATION_PATCHING
from transpector.protocol.patching import PatchingArgs, PatchingResult

PAIR = {"clean": "hello world", "corrupt": "hello wurld"}
BAD: list[tuple[dict[str, Any], str]] = [
    ({}, "needs a clean/corrupt pair: add one with session.add_pair"),
    ({"pair": 0}, "needs a clean/corrupt pair"),
    ({"clean": "hello world", "corrupt": "hi"},
     "the clean prompt has 12 tokens and the corrupt one 3: a pair needs the same number"),
    ({**PAIR, "metric": {"kind": "logit_diff", "correct": " Mary", "wrong": "x"}},
     r"' Mary' is 5 tokens \(' ', 'M', 'a', 'r', 'y'\); give one token"),
    ({**PAIR, "metric": {"kind": "token_loss", "token": "xy"}}, "'xy' is 2 tokens"),
    ({**PAIR, "layers": []}, r"the sweep is empty: layers=\[\]"),
    ({**PAIR, "positions": []}, r"the sweep is empty: positions=\[\]"),
    ({**PAIR, "layers": [0, 2, 7]}, r"layers \[2, 7\] out of range: the model has 2"),
    ({**PAIR, "positions": [3, 12]}, r"positions \[12\] out of range for 12 tokens"),
    ({**PAIR, "sweep": "head_out", "positions": [1]}, "the head_out sweep patches every position"),
    ({"clean": "hello world"}, "give both clean and corrupt prompts, or neither"),
    ({**PAIR, "pair": 0}, "give a pair index or clean and corrupt prompts, not both"),
    ({"sweep": "resid_post", **PAIR}, "activation_patching: sweep: Input should be 'resid_pre'"),
    ({**PAIR, "memory_mb": 0}, "activation_patching: memory_mb: Input should be greater than"),
    ({**PAIR, "copies_per_forward": 5000}, "copies_per_forward: Input should be less than"),
    ({**PAIR, "clean": ""}, "clean: String should have at least 1 character"),
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
        session.tools.activation_patching(**args)
    assert unchanged(session) == before


def test_a_pair_index_past_the_session_pairs(session: Session) -> None:
    session.add_pair("hello world", "hello wurld")
    before = unchanged(session)
    with pytest.raises(TranspectorError, match="pair 1 out of range: the session has 1"):
        session.tools.activation_patching(pair=1)
    assert unchanged(session) == before


def test_a_sweep_the_model_has_no_hook_for(tmp_path: Path) -> None:
    session = Session(boot_tiny(tmp_path, attn_only=True))
    with pytest.raises(TranspectorError, match=r"needs L0.mlp: this model has none \(an attent"):
        session.tools.activation_patching(sweep="mlp_out", **PAIR)


def test_a_cancel_mid_sweep_ends_the_steps_and_leaves_no_hook(session: Session) -> None:
    session.add_pair("hello world", "hello wurld")
    session.ablate("L0.H1")
    before = unchanged(session)
    assert ACTIVATION_PATCHING.steps is not None
    args = PatchingArgs(sweep="head_out", copies_per_forward=1)
    steps = ACTIVATION_PATCHING.steps(session, args)
    assert next(steps) == Step(0, 8, "clean and corrupt runs")
    assert next(steps) == Step(1, 8, "L0 head_out")
    with pytest.raises(Cancelled):
        steps.throw(Cancelled())
    assert unchanged(session) == before
    with pytest.raises(StopIteration):  # the sweep is over, not paused
        next(steps)


def test_a_cancel_from_a_client_is_a_cancelled_error(session: Session) -> None:
    session.add_pair("hello world", "hello wurld")
    before = unchanged(session)
    sent: list[dict[str, Any]] = []

    async def scenario() -> None:
        dispatcher = dispatch.Dispatcher(session)
        client = dispatcher.connect()
        call = {"op": "tool_call", "tool": "activation_patching", "request_id": "p1",
                "args": {"sweep": "head_out", "copies_per_forward": 1}}  # fmt: skip
        dispatcher.receive_text(client, json.dumps(call))
        while not (sent and sent[-1]["op"] in ("error", "tool_result")):
            sent.append(json.loads(await client.queue.get()))
            if sent[-1]["op"] == "progress" and sent[-1]["done"] == 1:
                cancel = {"op": "cancel", "task_id": sent[-1]["task_id"], "request_id": "c1"}
                dispatcher.receive_text(client, json.dumps(cancel))

    asyncio.run(asyncio.wait_for(scenario(), 30))
    assert sent[-1]["op"] == "error", sent[-1]
    assert (sent[-1]["code"], sent[-1]["request_id"]) == ("cancelled", "p1")
    assert sent[-1]["message"] == "activation_patching was cancelled"
    done = [m["done"] for m in sent if m["op"] == "progress"]
    assert done[:2] == [0, 1] and max(done) < 8
    assert unchanged(session) == before


def test_a_pair_that_scores_the_same_keeps_only_raw_values(session: Session) -> None:
    result = session.tools.activation_patching(sweep="head_out", clean="hello", corrupt="hello")
    assert isinstance(result, PatchingResult)
    assert result.values is None and "score the same" in result.note
    assert result.raw == pytest.approx([result.clean_value] * 8, abs=1e-6)
    assert result.clean_value == result.corrupt_value
    with pytest.raises(ValueError, match="no normalized values: the clean and corrupt prompts"):
        result.grid()
    assert result.grid(raw=True) == [result.raw[:4], result.raw[4:]]
