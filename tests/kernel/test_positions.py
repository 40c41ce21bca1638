"""``qk_positions`` against plain torch: the position-only profile recomputed from the weights
and read from the model's own attention with only W_pos in the residual stream; the measured
profile against ``run_with_cache`` on the same seeded random tokens; the cache; bad input; and on
SmolLM2, the top previous-token head on a real sentence."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from tests.conftest import boot_tiny
from transpector.errors import TranspectorError
from transpector.kernel.session import Session
from transpector.kernel.tools import weights as cache
from transpector.protocol.positions import QkPositionsResult

ROTARY = dict(positional_embedding_type="rotary", n_key_value_heads=2, normalization_type="RMS")


def profile_of(pattern: torch.Tensor) -> torch.Tensor:
    """[samples, head, n, n] to [head, n]: for each offset d, the mean of A[q, q - d], q >= d."""
    n = pattern.shape[-1]
    out = torch.zeros(pattern.shape[1], n, dtype=torch.float64)
    for d in range(n):
        cells = [pattern[:, :, q, q - d].double() for q in range(d, n)]
        out[:, d] = torch.stack(cells, -1).mean((0, -1))
    return out


def call(session: Session, **args: Any) -> QkPositionsResult:
    result = session.call("qk_positions", **args)
    assert isinstance(result, QkPositionsResult)
    return result


@pytest.fixture(scope="module")
def learned(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """LayerNorm, learned positions; biases, norms and W_pos perturbed so that every term counts
    and the softmax is far from uniform."""
    model = boot_tiny(tmp_path_factory.mktemp("learned"), n_ctx=32)
    torch.manual_seed(1)
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if "bias" in name or "ln1" in name:
                parameter.add_(torch.randn_like(parameter) * 0.5)
            if name.startswith("pos.") or ".q._" in name or ".k._" in name:
                parameter.mul_(3.0)
    return model


def test_position_only_profile_equals_plain_torch_on_the_weights(learned: Any) -> None:
    n = 16
    result = call(Session(learned), length=n)
    assert result.method == "weights" and result.shape == [2, 4, n] and result.norm is True
    for layer in range(2):
        ln = learned.blocks[layer].ln1.original_component
        x = learned.W_pos.detach().double()[:n]
        x = x - x.mean(-1, keepdim=True)
        x = x / (x.pow(2).mean(-1, keepdim=True) + 1e-5).sqrt() * ln.weight.double() + ln.bias
        w_q, w_k = learned.W_Q[layer].double(), learned.W_K[layer].double()
        q = torch.einsum("pm,hmd->hpd", x, w_q) + learned.b_Q[layer, :, None]
        k = torch.einsum("pm,hmd->hpd", x, w_k) + learned.b_K[layer, :, None]
        scores = q @ k.transpose(-1, -2) / 4.0  # sqrt(d_head = 16)
        scores = scores.masked_fill(torch.ones(n, n).triu(1).bool(), float("-inf"))
        expected = profile_of(scores.softmax(-1)[None])
        ours = torch.tensor(result.profile[layer], dtype=torch.float64)
        torch.testing.assert_close(ours, expected, rtol=0, atol=1e-5)
    assert max(max(max(row) for row in layer) for layer in result.profile) > 0.3  # not uniform
    previous = sorted((h.previous for h in result.heads), reverse=True)
    assert [h.previous for h in result.heads] == previous
    top = result.heads[0]
    assert top.previous == result.profile[top.layer][top.head][1]
    assert top.peak == max(result.profile[top.layer][top.head])


def test_position_only_profile_equals_the_models_attention_on_w_pos_alone(learned: Any) -> None:
    """The model's own attention (scale, biases, mask, norm) with each layer's residual input
    replaced by W_pos: layer 0 with the token embedding zeroed, layer 1 by a hook."""
    n = 12
    result = call(Session(learned), length=n)
    rows = learned.W_pos.detach()[:n]
    tokens = learned.to_tokens("hello world")[:, :n]
    hooks = [
        ("hook_embed", lambda act, hook: torch.zeros_like(act)),
        ("blocks.1.hook_resid_pre", lambda act, hook: rows[None].expand_as(act).clone()),
    ]
    with torch.inference_mode(), learned.hooks(fwd_hooks=hooks):
        _, run = learned.run_with_cache(tokens, names_filter=lambda h: h.endswith("hook_pattern"))
    for layer in range(2):
        expected = profile_of(run[f"blocks.{layer}.attn.hook_pattern"])
        ours = torch.tensor(result.profile[layer], dtype=torch.float64)
        torch.testing.assert_close(ours, expected, rtol=0, atol=1e-5)


def test_without_the_norm_the_rows_are_w_pos_itself(learned: Any) -> None:
    n = 8
    result = call(Session(learned), length=n, norm=False)
    x = learned.W_pos.detach().double()[:n]
    q = x @ learned.W_Q[0, 2].double() + learned.b_Q[0, 2]
    k = x @ learned.W_K[0, 2].double() + learned.b_K[0, 2]
    scores = (q @ k.T / 4.0).masked_fill(torch.ones(n, n).triu(1).bool(), float("-inf"))
    expected = profile_of(scores.softmax(-1)[None, None])[0]
    ours = torch.tensor(result.profile[0][2], dtype=torch.float64)
    torch.testing.assert_close(ours, expected, atol=1e-5, rtol=0)


def random_tokens(model: Any, samples: int, n: int, seed: int) -> torch.Tensor:
    """The documented recipe: uniform ids, seeded, position 0 the BOS token."""
    tokens = torch.randint(
        0, model.cfg.d_vocab, (samples, n), generator=torch.Generator().manual_seed(seed)
    )
    tokens[:, 0] = model.tokenizer.bos_token_id
    return tokens


@pytest.mark.parametrize("kind", ["rotary", "learned"])
def test_measured_profile_equals_run_with_cache_on_same_tokens(tmp_path: Path, kind: str) -> None:
    model = boot_tiny(tmp_path, **ROTARY) if kind == "rotary" else boot_tiny(tmp_path)
    session = Session(model)
    session.ablate("L0.H1")  # a weights tool reads the clean model
    method = "auto" if kind == "rotary" else "random_tokens"  # auto: from W_pos where learned
    result = call(session, method=method, length=12, samples=5, seed=3)
    assert result.method == "random_tokens" and result.samples == 5 and result.seed == 3
    tokens = random_tokens(model, 5, 12, seed=3)
    with torch.inference_mode():
        _, run = model.run_with_cache(tokens, names_filter=lambda h: h.endswith("hook_pattern"))
    for layer in range(2):
        pattern = run[f"blocks.{layer}.attn.hook_pattern"]
        ours = torch.tensor(result.profile[layer], dtype=torch.float64)
        torch.testing.assert_close(ours, profile_of(pattern), rtol=0, atol=1e-5)
        first = pattern[:, :, 1:, 0].double().mean((0, 2))
        listed = {h.head: h.first for h in result.heads if h.layer == layer}
        assert [listed[h] for h in range(4)] == pytest.approx(first.tolist(), abs=1e-6)
    other = call(session, length=12, samples=5, seed=4)
    assert other.profile != result.profile


def test_one_layer_and_the_cache_per_weights_version(tmp_path: Path) -> None:
    model = boot_tiny(tmp_path, **ROTARY)
    session = Session(model)
    every = call(session, length=10, samples=2)
    assert len(cache._cache[model]) == 1
    one = call(session, length=10, samples=2, layer=1)
    assert len(cache._cache[model]) == 1  # kept, sliced
    assert one.layers == [1] and one.shape == [1, 4, 10] and one.profile == every.profile[1:]
    assert {h.layer for h in one.heads} == {1} and len(one.heads) == 4
    with torch.no_grad():
        model.blocks[0].attn.q.weight.mul_(3.0)
    changed = call(session, length=10, samples=2)
    assert changed.profile[0] != every.profile[0] and len(cache._cache[model]) == 2


def test_bad_input_says_what_is_wrong_and_leaves_the_state(tmp_path: Path) -> None:
    session = Session(boot_tiny(tmp_path, **ROTARY))
    session.prompt = "hello"
    session.ablate("L0.H1")
    before, version = session.state.model_dump(), session.version
    bad = [
        ({"layer": 2}, "layer 2 is out of range: this model has layers 0 to 1"),
        ({"layer": -1}, "layer -1 is out of range"),
        ({"samples": 0}, "qk_positions: samples: Input should be greater than or equal to 1"),
        ({"length": 65}, r"length 65 is more than this model's context \(n_ctx 64\)"),
        ({"length": 1}, "qk_positions: length: Input should be greater than or equal to 2"),
        ({"method": "weights"}, "no learned positional embedding .*rotary.*'random_tokens'"),
        ({"method": "rope"}, "qk_positions: method: Input should be 'auto'"),
    ]
    for args, message in bad:
        with pytest.raises(TranspectorError, match=message):
            session.call("qk_positions", **args)
    assert session.state.model_dump() == before and session.version == version


@pytest.mark.default_model
def test_smollm2s_top_previous_token_head_attends_to_the_previous_token(default_model: Any) -> None:
    result = call(Session(default_model), samples=8, length=64)
    assert result.method == "random_tokens" and result.shape == [30, 9, 64]
    top = result.heads[0]
    assert top.previous > 0.5 and top.peak_offset == 1
    text = "The quick brown fox jumps over the lazy dog while the cat sleeps in the warm sun."
    tokens = default_model.to_tokens(text)
    name = f"blocks.{top.layer}.attn.hook_pattern"
    with torch.inference_mode():
        _, run = default_model.run_with_cache(tokens, names_filter=lambda h: h == name)
    pattern = run[name][0, top.head].double()  # [query, key]
    n = pattern.shape[0]
    on_previous = torch.stack([pattern[q, q - 1] for q in range(1, n)])
    assert on_previous.mean() > 0.5
    profile = profile_of(run[name][:, top.head : top.head + 1])[0]
    assert int(profile.argmax()) == 1
