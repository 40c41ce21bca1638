"""The residual stream tool against plain torch: its components add up to the run's logit (or
logit difference) at every position, each term equals an independent decomposition from a
``run_with_cache``, and its norms are the cache's residual norms, interventions applied."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from tests.conftest import boot_tiny
from transpector.errors import TranspectorError
from transpector.kernel.session import Session
from transpector.protocol.residual import ResidualResult

ROTARY = dict(positional_embedding_type="rotary", n_key_value_heads=2, normalization_type="RMS")
PROMPT = "hello world, hi"


def biased_session(folder: Path, **overrides: object) -> Session:
    """A tiny model whose biases (zero at boot) and norm weights are random, so every constant
    term of the decomposition counts."""
    model = boot_tiny(folder, **overrides)
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for parameter in model.parameters():
            if parameter.dim() == 1:
                parameter.add_(torch.randn(parameter.shape, generator=generator) * 0.3)
        b_u = model.unembed.original_component.bias  # a buffer, not a parameter
        b_u.add_(torch.randn(b_u.shape, generator=generator))
    session = Session(model)
    session.prompt = PROMPT
    return session


def reference(model: Any, cache: Any, position: int, token: int) -> dict[str, float]:
    """Component -> contribution to ``token``'s logit at ``position``, straight from a TL cache
    (tests/kernel/dla_reference.py's decomposition, at any position)."""
    with torch.inference_mode():
        return _reference(model, cache, position, token)


def _reference(model: Any, cache: Any, position: int, token: int) -> dict[str, float]:
    norm = model.ln_final.original_component
    scale = cache["ln_final.hook_scale"][0, position, 0]
    w_u = model.W_U[:, token]
    centered = model.cfg.normalization_type == "LN"

    def through_norm(vector: torch.Tensor) -> float:
        if centered:
            vector = vector - vector.mean()
        return float((vector / scale * norm.weight) @ w_u)

    parts = {"embed": through_norm(cache["hook_embed"][0, position])}
    if "hook_pos_embed" in cache:
        parts["pos_embed"] = through_norm(cache["hook_pos_embed"][0, position])
    for layer in range(model.cfg.n_layers):
        z = cache[f"blocks.{layer}.attn.hook_z"][0, position]
        for head in range(model.cfg.n_heads):
            parts[f"L{layer}.H{head}"] = through_norm(z[head] @ model.W_O[layer, head])
        parts[f"L{layer}.b_O"] = through_norm(model.b_O[layer])
        parts[f"L{layer}.mlp"] = through_norm(cache[f"blocks.{layer}.hook_mlp_out"][0, position])
    if getattr(norm, "bias", None) is not None:
        parts["ln_final.b"] = float(norm.bias @ w_u)
    parts["b_U"] = float(model.b_U[token])
    return parts


def applied_cache(session: Session) -> tuple[torch.Tensor, Any]:
    """Logits [pos, d_vocab] and the cache of a plain forward with the session's hooks."""
    tokens = session.model.to_tokens(session.prompt)
    with torch.inference_mode(), session.applied() as hooked:
        logits, cache = hooked.run_with_cache(tokens)
    return logits[0].float(), cache


def check_adds_up(result: ResidualResult, logits: torch.Tensor) -> None:
    for column, position in enumerate(result.positions):
        ids = result.token_ids[column]
        expected = float(logits[position, ids[0]] - (logits[position, ids[1]] if ids[1:] else 0))
        assert result.logit[column] == pytest.approx(expected, abs=1e-4)
        assert result.total[column] == pytest.approx(expected, abs=1e-4)
        assert sum(result.contributions[column]) == pytest.approx(expected, abs=1e-4)
        named = dict(zip(result.components, result.contributions[column], strict=True))
        biases = named.get("ln_final.b", 0.0) + named["b_U"]
        assert result.cumulative[-1][column] + biases == pytest.approx(expected, abs=1e-4)


@pytest.mark.parametrize("overrides", [{}, ROTARY], ids=["layernorm", "rotary-gqa-rms"])
def test_the_terms_add_up_to_the_logit_and_equal_the_reference(
    tmp_path: Path, overrides: dict[str, object]
) -> None:
    session = biased_session(tmp_path, **overrides)
    model = session.model
    result = session.tools.residual_stream(positions=list(range(session.context().n_pos)))
    assert result.positions == list(range(result.n_tokens))
    logits, cache = applied_cache(session)
    check_adds_up(result, logits)
    constants = ["ln_final.b", "b_U"] if not overrides else ["L1.mlp", "b_U"]  # RMS: no bias
    assert result.components[-2:] == constants
    for column, position in enumerate(result.positions):
        top = int(logits[position].argmax())  # top_prob: this run's top token at the position
        assert result.token_ids[column] == [top]
        expected = reference(model, cache, position, top)
        got = dict(zip(result.components, result.contributions[column], strict=True))
        assert got.keys() == expected.keys()
        for name, value in expected.items():
            assert got[name] == pytest.approx(value, abs=1e-4), (position, name)
        # The residual's own contribution after each layer is the running sum of its components.
        layers = [0] + [result.components.index(f"L{layer}.mlp") + 1 for layer in range(2)]
        for row, end in enumerate(layers):
            running = sum(result.contributions[column][: end or (2 if not overrides else 1)])
            assert result.cumulative[row][column] == pytest.approx(running, abs=1e-4)
    assert sum(abs(v) for v in result.contributions[-1][-2:]) > 0.01  # the biases count


def test_logit_difference_and_token_loss_under_interventions(tmp_path: Path) -> None:
    session = biased_session(tmp_path)
    a, b = (session.model.tokenizer.encode(t, add_special_tokens=False)[0] for t in ("a", "b"))
    session.set_metric("logit_diff", correct="a", wrong="b")
    session.ablate("L0.H1")
    session.freeze("L1.mlp")  # a component hook: the terms still cover the stream
    result = session.tools.residual_stream(positions=[1, -1])
    logits, cache = applied_cache(session)
    assert result.positions == [1, len(PROMPT)]  # BOS first
    assert result.labels == ["logit('a') - logit('b')"] * 2 and result.token_ids == [[a, b]] * 2
    check_adds_up(result, logits)
    edits = result.components.index("edits")
    assert all(abs(row[edits]) < 1e-4 for row in result.contributions)
    head = result.components.index("L0.H1")
    assert all(row[head] == 0.0 for row in result.contributions)  # zero-ablated
    for column, position in enumerate(result.positions):
        parts_a, parts_b = (reference(session.model, cache, position, t) for t in (a, b))
        assert result.contributions[column][edits - 1] == pytest.approx(
            parts_a["L1.mlp"] - parts_b["L1.mlp"], abs=1e-4
        )
    # A patch of the residual stream itself is what "edits" carries.
    session.patch(source="L1.resid_pre", target="L1.resid_pre", source_prompt="hello there, yo")
    session.set_metric("token_loss", token="b")
    result = session.tools.residual_stream(positions=[-1])
    logits, _ = applied_cache(session)
    assert result.labels == ["logit('b')"] and result.token_ids == [[b]]
    check_adds_up(result, logits)
    assert abs(result.contributions[0][result.components.index("edits")]) > 1e-3


def test_norms_are_the_cached_residual_norms(session: Session) -> None:
    session.ablate("L1.H2")
    result = session.tools.residual_stream()
    assert result.positions == [session.context().n_pos - 1]  # the last position by default
    assert result.rows == ["L0.resid_pre", "L1.resid_pre", "L1.resid_post"]
    _, cache = applied_cache(session)
    hooks = ["blocks.0.hook_resid_pre", "blocks.1.hook_resid_pre", "blocks.1.hook_resid_post"]
    expected = [[float(cache[hook][0, -1].norm())] for hook in hooks]
    assert torch.allclose(torch.tensor(result.norms), torch.tensor(expected), atol=1e-5)
    plain = session.tools.residual_stream(positions=[-1, 0, -1])
    assert plain.positions == [0, result.positions[0]] and plain.norms[0][1] == result.norms[0][0]


def test_positions_out_of_range_say_so_and_leave_the_state(session: Session) -> None:
    session.ablate("L0.H1")
    before, version = session.state.model_dump(), session.version
    n = session.context().n_pos
    with pytest.raises(TranspectorError, match=rf"positions \[{n}, -{n + 1}\] out of range"):
        session.tools.residual_stream(positions=[0, n, -n - 1])
    with pytest.raises(TranspectorError, match="at most 64 items"):
        session.tools.residual_stream(positions=list(range(65)))
    assert session.state.model_dump() == before and session.version == version
