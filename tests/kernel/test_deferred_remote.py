"""session.trace(remote="local"): nnsight's serialization round trip returns what a local trace
saves, with the session's interventions; any other remote is refused."""

from __future__ import annotations

from typing import Any

import nnsight
import pytest
import torch
from nnsight.schema.request import RequestModel

from transpector.errors import TranspectorError
from transpector.kernel.session import Session

PROMPT = "hello world"
HOOKS = ["blocks.0.attn.hook_pattern", "blocks.0.attn.hook_z", "blocks.1.hook_resid_pre"]


def test_local_round_trip_saves_what_a_local_trace_saves(session: Session) -> None:
    session.ablate("L0.H2")
    with session.trace(PROMPT) as tr:
        local = nnsight.save([tr.hook(name).output for name in HOOKS])
        tr.hook("blocks.1.attn.hook_z").head(1)[:] = 0
        local_logits = tr.model.output.save()
    with session.trace(PROMPT, remote="local") as tr:
        remote = nnsight.save([tr.hook(name).output for name in HOOKS])
        tr.hook("blocks.1.attn.hook_z").head(1)[:] = 0
        remote_logits = tr.model.output.save()
    for name, a, b in zip(HOOKS, local, remote, strict=True):
        torch.testing.assert_close(b, a, atol=0, rtol=0, msg=name)
    torch.testing.assert_close(remote_logits, local_logits, atol=0, rtol=0)
    with session.trace(PROMPT, interventions=False) as tr:
        clean = tr.model.output.save()
    assert (clean - remote_logits).abs().max() > 1e-3  # both interventions acted
    assert session.hooks() == []


def test_the_round_trip_goes_through_nnsight_serialization(
    session: Session, tiny_model: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The request is serialized and deserialized (observed, not replaced), and a second round
    trip after the first runs the same."""
    payloads: list[int] = []
    deserialize = RequestModel.deserialize

    def observed(blob: bytes, *args: Any, **kwargs: Any) -> Any:
        payloads.append(len(blob))
        return deserialize(blob, *args, **kwargs)

    monkeypatch.setattr(RequestModel, "deserialize", staticmethod(observed))
    for _ in range(2):
        with session.trace(PROMPT, remote="local") as tr:
            logits = tr.model.output.save()
        with torch.no_grad():
            expected = tiny_model(tiny_model.to_tokens(PROMPT))
        torch.testing.assert_close(logits, expected, atol=1e-5, rtol=0)
    assert len(payloads) == 2 and min(payloads) > 0
    assert session.hooks() == []


def test_remote_other_than_local_is_refused(session: Session) -> None:
    version = session.version
    with pytest.raises(TranspectorError, match=r"remote is True \(NDIF"):
        session.trace(PROMPT, remote="elsewhere")
    assert session.version == version
