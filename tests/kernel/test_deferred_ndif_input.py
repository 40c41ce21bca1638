"""Bad input to session.trace(remote=True): each a clear TranspectorError; the session's state
version, its hooks and the model stay as they were, and a trace after it runs as before."""

from __future__ import annotations

import socket
import time
from typing import Any

import huggingface_hub
import pytest
import torch
from nnsight.schema.config import CONFIG

from tests import ndif_loopback
from tests.ndif_loopback import LoopbackNDIF
from transpector.errors import TranspectorError
from transpector.kernel.deferred.ndif import model_key
from transpector.kernel.session import Session

ndif, configured = ndif_loopback.ndif, ndif_loopback.configured  # the fixtures
PROMPT = "hello world"


def logits_of(session: Session, remote: bool | str = False, **options: Any) -> Any:
    with session.trace(PROMPT, remote=remote, **options) as tr:
        logits = tr.model.output.save()
    return logits


def refused(session: Session, match: str, **options: Any) -> float:
    """Seconds until ``remote=True`` was refused with ``match``; the session unchanged."""
    version, before = session.version, logits_of(session)
    start = time.perf_counter()
    with pytest.raises(TranspectorError, match=match):
        logits_of(session, True, **options)
    seconds = time.perf_counter() - start
    assert session.version == version and session.hooks() == []
    torch.testing.assert_close(logits_of(session), before, atol=0, rtol=0)
    return seconds


def test_no_key_is_refused_before_anything_is_sent(
    session: Session, configured: LoopbackNDIF, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(CONFIG.API, "APIKEY", None)
    refused(session, "needs an NDIF API key: set NDIF_API_KEY")
    assert configured.log == []


def test_an_unreachable_host_fails_within_two_seconds(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]  # closed again below: nothing listens there
    monkeypatch.setattr(CONFIG.API, "HOST", f"http://127.0.0.1:{port}")
    monkeypatch.setattr(CONFIG.API, "APIKEY", "key")
    seconds = refused(session, f"cannot reach NDIF at http://127.0.0.1:{port}")
    assert seconds < 2.0


def test_a_wrong_key_is_refused_by_the_server(
    session: Session, configured: LoopbackNDIF, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(CONFIG.API, "APIKEY", "wrong")
    refused(session, r"refused the connection \(HTTP 403\): check the API key")
    refused(session, "Invalid or missing API key", blocking=False)  # POST /request: 401


def test_an_error_on_the_far_side_comes_back_and_the_server_goes_on(
    session: Session, configured: LoopbackNDIF
) -> None:
    version = session.version
    with (
        pytest.raises(TranspectorError, match=r"NDIF job .* failed: IndexError"),
        session.trace(PROMPT, remote=True) as tr,
    ):
        tr.hook("blocks.0.attn.hook_z").head(7).save()  # the model has 4 heads
    assert session.version == version and session.hooks() == []
    torch.testing.assert_close(logits_of(session, True), logits_of(session), atol=1e-5, rtol=0)


def test_a_model_the_server_does_not_have_is_named(
    session: Session, configured: LoopbackNDIF, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(session.model.cfg, "model_name", "not-deployed")
    refused(session, 'Model .*"repo_id": "not-deployed".* is not deployed')


def test_session_interventions_are_refused_remotely(
    session: Session, configured: LoopbackNDIF
) -> None:
    session.ablate("L0.H2")
    refused(session, "none of this session's interventions: trace with interventions=False")
    ablated_off = logits_of(session, True, interventions=False)
    torch.testing.assert_close(
        ablated_off, logits_of(session, interventions=False), atol=1e-5, rtol=0
    )


def test_the_model_key_asks_no_hub(session: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_hub(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the model key asked the hub")

    monkeypatch.setattr(huggingface_hub.HfApi, "model_info", no_hub)
    name = session.model.cfg.model_name
    assert model_key(session.model) == (
        "transformer_lens.model_bridge.transformer_bridge.TransformerBridge:"
        f'{{"repo_id": "{name}", "revision": null}}'
    )
