"""session.show_saved: what a trace saved (on the loopback NDIF with remote=True, or here) shown
as a saved run, its top-k, lens and attention against TransformerLens's run_with_cache and plain
torch on the weights; bad input refused with the state as it was."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
import torch

from tests import ndif_loopback
from tests.ndif_loopback import LoopbackNDIF
from transpector.errors import TranspectorError
from transpector.kernel.session import Session
from transpector.protocol.saved_run import SavedRun, SavedRunResult

ndif, configured = ndif_loopback.ndif, ndif_loopback.configured  # the fixtures
PROMPT = "hello world"


def plain(model: Any, prompt: str) -> tuple[torch.Tensor, Any]:
    """The token ids [pos] and TransformerLens's cache of a clean run."""
    tokens = model.to_tokens(prompt)
    with torch.inference_mode():
        _, cache = model.run_with_cache(tokens)
    return tokens[0], cache


def read_out(model: Any, resid: torch.Tensor) -> torch.Tensor:
    """Probabilities of resid [pos, d_model] through LayerNorm and W_U, in plain torch."""
    norm, unembed = model.ln_final.original_component, model.unembed.original_component
    with torch.inference_mode():
        x = torch.nn.functional.layer_norm(
            resid, resid.shape[-1:], norm.weight, norm.bias, norm.eps
        )
        return (x @ unembed.weight.T + unembed.bias).float().softmax(-1)


def assert_shows(session: Session, model: Any, run: SavedRun, rows: dict[str, str]) -> None:
    tokens, cache = plain(model, PROMPT)
    assert run.token_ids == tokens.tolist() and len(run.tokens) == len(tokens)
    want = read_out(model, cache["blocks.1.hook_resid_post"][0])[-1].topk(10)
    assert [t.id for t in run.top_k] == want.indices.tolist()
    assert [t.prob for t in run.top_k] == pytest.approx(want.values.tolist(), abs=1e-5)
    assert run.lens is not None and run.lens.layers == list(rows)
    assert run.lens.positions == list(range(len(tokens)))
    for r, hook in enumerate(rows.values()):
        best, ids = read_out(model, cache[hook][0]).max(-1)
        assert run.lens.token_ids[r] == ids.tolist(), hook
        assert run.lens.probs[r] == pytest.approx(best.tolist(), abs=1e-5)
    for layer in run.attention_layers:
        for head in range(4):
            got = session.call("saved_run", layer=layer, head=head)
            assert isinstance(got, SavedRunResult) and got.attention is not None
            want_pattern = cache[f"blocks.{layer}.attn.hook_pattern"][0, head]
            torch.testing.assert_close(torch.tensor(got.attention.pattern), want_pattern)


ROWS = {"L0.resid_pre": "blocks.0.hook_resid_pre", "L1.resid_pre": "blocks.1.hook_resid_pre"}
ROWS_ALL = {**ROWS, "L1.resid_post": "blocks.1.hook_resid_post"}


def test_a_remote_trace_saved_for_the_canvas_shows_as_run_with_cache(
    session: Session, tiny_model: Any, configured: LoopbackNDIF
) -> None:
    with session.trace(PROMPT, remote=True) as tr:
        saved = tr.save_for_canvas()
    assert configured.log == [("WS", "/subscribe"), ("POST", "/request")]  # it ran far away
    version = session.version
    run = session.show_saved(saved, name="NDIF run")
    assert session.version == version + 1 and session.state.saved_run is not None
    assert session.state.saved_run.name == "NDIF run" and session.state.saved_run.id == run.id
    assert run.attention_layers == [0, 1] and run.not_shown == []
    assert_shows(session, tiny_model, run, ROWS_ALL)
    assert session.call("saved_run") == SavedRunResult(run=run)
    assert session.hooks() == []
    with session.trace(PROMPT, remote=True, blocking=False) as tr:
        saved = tr.save_for_canvas(attention=False)
    deadline, result = time.monotonic() + 20, tr.backend()
    while result is None and time.monotonic() < deadline:
        time.sleep(0.05)
        result = tr.backend()
    later = session.show_saved(result["saved"], name="polled")
    assert later.lens == run.lens and later.top_k == run.top_k and later.attention_layers == []


def test_a_local_trace_saved_by_hand_with_the_prompt_given(
    session: Session, tiny_model: Any, tmp_path: Path
) -> None:
    assert session.call("saved_run") == SavedRunResult()  # nothing shown yet
    with session.trace(PROMPT) as tr:
        r0 = tr.hook("blocks.0.hook_resid_pre").output[0].save()  # no batch dimension
        z = tr.hook("blocks.0.attn.hook_z").output.save()
        r1 = tr.hook("blocks.1.hook_resid_pre").output.save()
        logits = tr.model.output.save()
    saved = {"blocks.0.hook_resid_pre": r0, "blocks.0.attn.hook_z": z}
    run = session.show_saved(
        {**saved, "blocks.1.hook_resid_pre": r1, "logits": logits}, prompt=PROMPT
    )
    assert (
        run.name == "saved run"
        and run.attention_layers == []
        and run.not_shown == ["blocks.0.attn.hook_z"]
    )
    assert_shows(session, tiny_model, run, ROWS)
    with pytest.raises(
        TranspectorError, match=r"no attention pattern of layer 0 .*saved layers: none"
    ):
        session.call("saved_run", layer=0)
    session._reset_model_caches()  # what a move or a cast does: a new adapter
    assert session.call("saved_run") == SavedRunResult(run=run)
    session.save(tmp_path / "state.json")
    assert Session(tiny_model, tmp_path / "state.json").state.saved_run is None  # values not kept


def bad_inputs(model: Any) -> list[tuple[Any, str]]:
    tokens, cache = plain(model, PROMPT)
    resid, z = cache["blocks.0.hook_resid_pre"], cache["blocks.0.attn.hook_z"]
    pattern = cache["blocks.0.attn.hook_pattern"]
    wrong = r"blocks.0.hook_resid_pre: expected one prompt's values, float \[1, 12, 64\] .*"
    return [
        ({}, "show_saved takes the saved values by name .* with nothing in it"),
        (None, "show_saved takes the saved values by name"),
        ({"tokens": tokens}, "nothing to show: save the logits"),
        ({"tokens": tokens, "blocks.0.attn.hook_z": z}, "nothing to show"),
        ({"tokens": tokens, "blocks.0.hook_resid_pre": resid[:, :5]}, wrong + r"\[1, 5, 64\]"),
        ({"tokens": tokens, "blocks.0.hook_resid_pre": resid.repeat(2, 1, 1)}, r"\[2, 12, 64\]"),
        ({"tokens": tokens, "blocks.0.attn.hook_pattern": pattern[:, :2]}, r"\[1, 4, 12, 12\]"),
        ({"tokens": tokens, "blocks.9.hook_resid_pre": resid},
         "'blocks.9.hook_resid_pre' is not a hook point of this model, .*did you mean blocks.1.h"),
        ({"tokens": tokens, "resid": resid}, "'resid' is not a hook point"),
        ({"tokens": tokens, "logits": [1.0]}, "logits: a saved value is a tensor, not list"),
        ({"blocks.0.hook_resid_pre": resid}, "no tokens: save them as 'tokens'"),
        ({"tokens": tokens.float(), "blocks.0.hook_resid_pre": resid}, "tokens: token ids"),
        ({"tokens": tokens + 1000, "blocks.0.hook_resid_pre": resid}, "tokens: 1 to 64 ids below"),
    ]  # fmt: skip


def test_bad_input_is_refused_with_the_shown_run_kept(session: Session, tiny_model: Any) -> None:
    tokens, cache = plain(tiny_model, PROMPT)
    shown = session.show_saved(
        {"tokens": tokens, "blocks.0.hook_resid_pre": cache["blocks.0.hook_resid_pre"]}
    )
    before, result = session.state.model_dump(), session.call("saved_run")
    for saved, message in bad_inputs(tiny_model):
        with pytest.raises(TranspectorError, match=message):
            session.show_saved(saved)
        assert session.state.model_dump() == before and session.call("saved_run") == result
    with pytest.raises(TranspectorError, match="not those of prompt="):
        session.show_saved({"tokens": tokens, "logits": tokens}, prompt="other")
    with pytest.raises(TranspectorError, match="name is a short text"):
        session.show_saved({"tokens": tokens}, name=" ")
    assert session.state.model_dump() == before and shown.top_k == []
