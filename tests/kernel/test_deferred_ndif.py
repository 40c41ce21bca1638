"""session.trace(remote=True) through nnsight's RemoteBackend against the loopback NDIF (a test
double of the service; tests/ndif_loopback.py): the saved values equal a local trace's and a
remote="local" round trip's, blocking (inline and by URL) and not; and the failures."""

from __future__ import annotations

import time
from typing import Any

import nnsight
import torch

from tests import ndif_loopback
from tests.ndif_loopback import LoopbackNDIF
from transpector.kernel.session import Session

ndif, configured = ndif_loopback.ndif, ndif_loopback.configured  # the fixtures
PROMPT = "hello world"
HOOKS = ["blocks.0.hook_resid_post", "blocks.1.attn.hook_pattern", "blocks.1.attn.hook_z"]


def saved_run(session: Session, remote: bool | str, **options: Any) -> tuple[Any, Any, Any]:
    """The same block for every backend: four saves and a head zeroed before the last."""
    with session.trace(PROMPT, remote=remote, **options) as tr:
        first = tr.hook("blocks.0.hook_resid_mid").t(1).save()  # token 1, counted by tr.t
        saved = nnsight.save([tr.hook(name).output for name in HOOKS])
        tr.hook("blocks.1.attn.hook_z").head(1)[:] = 0
        logits = tr.model.output.save()
    return [*saved, first], logits, tr


def assert_same(a: tuple[Any, Any, Any], b: tuple[Any, Any, Any]) -> None:
    for name, x, y in zip([*HOOKS, "t(1)"], a[0], b[0], strict=True):
        torch.testing.assert_close(y, x, atol=1e-5, rtol=0, msg=name)
    torch.testing.assert_close(b[1], a[1], atol=1e-5, rtol=0)


def test_loopback_saves_what_local_and_local_round_trip_save(
    session: Session, configured: LoopbackNDIF
) -> None:
    local = saved_run(session, False)
    assert_same(local, saved_run(session, "local"))
    assert configured.log == []
    remote = saved_run(session, True)
    assert_same(local, remote)
    assert configured.log == [("WS", "/subscribe"), ("POST", "/request")]  # result inline
    with session.trace(PROMPT) as tr:
        clean = tr.model.output.save()
    assert (clean - remote[1]).abs().max() > 1e-3  # the head zeroed on the far side acted
    assert session.hooks() == []


def test_a_large_result_comes_by_url(session: Session, configured: LoopbackNDIF) -> None:
    configured.inline_limit = 0
    try:
        remote = saved_run(session, True)
    finally:
        configured.inline_limit = 1 << 20
    assert_same(saved_run(session, False), remote)
    assert [m for m, path in configured.log if path.startswith("/result/")] == ["GET"]


def submitted(session: Session) -> Any:
    """The block of ``saved_run``, sent without waiting; the tracer (its names stay unbound)."""
    with session.trace(PROMPT, remote=True, blocking=False) as tr:
        first = tr.hook("blocks.0.hook_resid_mid").t(1).save()  # token 1, counted by tr.t
        saved = nnsight.save([tr.hook(name).output for name in HOOKS])
        tr.hook("blocks.1.attn.hook_z").head(1)[:] = 0
        logits = tr.model.output.save()
    assert "saved" not in locals() and "first" not in locals() and "logits" not in locals()
    return tr


def test_non_blocking_returns_at_once_and_polls(session: Session, configured: LoopbackNDIF) -> None:
    tr = submitted(session)
    assert configured.log == [("POST", "/request")]  # no websocket
    deadline = time.monotonic() + 20
    result = tr.backend()
    while result is None and time.monotonic() < deadline:
        time.sleep(0.05)
        result = tr.backend()
    assert result is not None and set(result) == {"saved", "first", "logits"}
    local = saved_run(session, False)
    assert_same(local, ([*result["saved"], result["first"]], result["logits"], None))
    assert ("GET", f"/response/{tr.backend.job_id}") in configured.log
    assert ("GET", f"/result/{tr.backend.job_id}") in configured.log
    assert session.hooks() == []
