"""The weight analyses against plain torch on the model's weights, and against TransformerLens's
``all_composition_scores``: composition scores, OV top tokens, copying scores, the cache per
weights version, and bad input."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest
import torch

from tests.conftest import boot_tiny
from transpector.errors import TranspectorError
from transpector.kernel.session import Session
from transpector.kernel.tools import weights as tool
from transpector.protocol.weights import CompositionResult, OvCopyingResult

GQA = dict(positional_embedding_type="rotary", n_key_value_heads=2, normalization_type="RMS")


def heads(model: Any) -> tuple[torch.Tensor, ...]:
    """W_Q, W_K, W_V [layer, head, d_model, d_head] and W_O, float64; query head h reads
    key/value head h // (n_heads // n_kv_heads)."""
    w_q, w_k, w_v, w_o = (t.detach().double() for t in (model.W_Q, model.W_K, model.W_V, model.W_O))
    n_heads = w_q.shape[1]
    kv = [h // (n_heads // w_k.shape[1]) for h in range(n_heads)]
    return w_q, w_k[:, kv], w_v[:, kv], w_o


def plain_composition(model: Any, kind: str) -> torch.Tensor:
    """||W_OV1 @ R2||_F / (||W_OV1||_F ||R2||_F) pair by pair, [layer, head, layer, head]."""
    w_q, w_k, w_v, w_o = heads(model)
    n_layers, n_heads = w_q.shape[:2]
    found = torch.zeros(n_layers, n_heads, n_layers, n_heads, dtype=torch.float64)
    for l1, h1, l2, h2 in itertools.product(*[range(n) for n in found.shape]):
        if l1 >= l2:
            continue
        ov = w_v[l1, h1] @ w_o[l1, h1]
        qk = w_q[l2, h2] @ w_k[l2, h2].T
        right = {"Q": qk, "K": qk.T, "V": w_v[l2, h2] @ w_o[l2, h2]}[kind]
        found[l1, h1, l2, h2] = (ov @ right).norm() / ov.norm() / right.norm()
    return found


def unembedding(model: Any) -> torch.Tensor:
    """[d_model, d_vocab]: W_U times the final norm's weight, centred for LayerNorm."""
    w_u = model.W_U.detach().double() * model.ln_final.original_component.weight.detach()[:, None]
    if model.cfg.normalization_type == "LN":
        w_u = w_u - w_u.mean(0)
    return w_u


def grid(result: CompositionResult) -> torch.Tensor:
    return torch.tensor(result.scores, dtype=torch.float64).reshape(result.shape)


@pytest.fixture(scope="module", params=["ln", "rotary_gqa_rms"])
def model(request: Any, tmp_path_factory: pytest.TempPathFactory) -> Any:
    folder = tmp_path_factory.mktemp(request.param)
    return boot_tiny(folder) if request.param == "ln" else boot_tiny(folder, **GQA)


@pytest.mark.parametrize("kind", ["Q", "K", "V"])
def test_composition_equals_the_formula_and_transformer_lens(model: Any, kind: str) -> None:
    result = Session(model).call("head_composition", kind=kind)
    assert isinstance(result, CompositionResult)
    ours = grid(result)
    torch.testing.assert_close(ours, plain_composition(model, kind), rtol=1e-9, atol=1e-12)
    theirs = model.all_composition_scores(kind).scores.double()
    torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-6)
    assert ours[1].abs().sum() == 0 and ours[:, :, 0].abs().sum() == 0  # only earlier -> later


def test_composition_in_blocks_of_layers_equals_it_at_once(tmp_path: Path) -> None:
    model = boot_tiny(tmp_path, n_layers=4, d_model=256, n_heads=8, d_head=32)
    session = Session(model)
    at_once = session.call("head_composition", kind="Q")
    tool._cache.clear()  # one layer's triangles are 2 MB: 1 MB takes a block per layer
    in_blocks = session.call("head_composition", kind="Q", memory_mb=1)
    assert in_blocks == at_once
    torch.testing.assert_close(grid(at_once), plain_composition(model, "Q"), rtol=1e-9, atol=0)


def test_edges_are_the_pairs_above_the_threshold_highest_first(session: Session) -> None:
    result = session.call("head_composition", kind="K", threshold=0.12, max_edges=3)
    assert isinstance(result, CompositionResult)
    scores = grid(result)
    above = sorted(
        ((float(s), i) for i, s in enumerate(scores.flatten()) if s > 0.12), reverse=True
    )
    assert result.edges_above == len(above) > 3
    expected = [(f"L{i // 32}.H{i // 8 % 4}", f"L{i // 4 % 2}.H{i % 4}", s) for s, i in above[:3]]
    assert [(e.from_node, e.to_node, e.score) for e in result.edges] == expected
    every = session.call("head_composition", kind="K", max_edges=1000)
    assert isinstance(every, CompositionResult)
    assert every.edges_above == len(every.edges) == 16  # L0's 4 heads into L1's 4
    assert {e.from_node[:2] + e.to_node[:2] for e in every.edges} == {"L0L1"}


def test_ov_top_tokens_and_copying_equal_plain_torch(model: Any) -> None:
    session = Session(model)
    result = session.call("ov_copying", token="h", k=4)
    assert isinstance(result, OvCopyingResult) and result.top is not None
    token = model.tokenizer.encode("h", add_special_tokens=False)[0]
    assert result.token_id == token and result.token == "h"
    _, _, w_v, w_o = heads(model)
    w_e, w_u = model.W_E.detach().double(), unembedding(model)
    for t in range(3):  # the adapter's logit_direction is W_U' 's column
        direction = session.adapter.logit_direction(t).double()
        torch.testing.assert_close(direction, w_u[:, t], rtol=1e-6, atol=1e-7)
    for layer, head in itertools.product(range(w_o.shape[0]), range(w_o.shape[1])):
        full = w_e @ w_v[layer, head] @ w_o[layer, head] @ w_u  # [d_vocab, d_vocab]
        values, ids = full[token].topk(4)
        listed = result.top[layer][head]
        assert [t.id for t in listed] == ids.tolist()
        torch.testing.assert_close(
            torch.tensor([t.logit for t in listed], dtype=torch.float64), values
        )
        assert [t.token for t in listed] == session.adapter.decode(ids.tolist())
        eigenvalues = torch.linalg.eigvals(full)
        score = eigenvalues.sum().real / eigenvalues.abs().sum()
        assert result.copying[layer][head] == pytest.approx(float(score), abs=1e-9)


def test_copying_scores_without_a_token(tmp_path: Path) -> None:
    model = boot_tiny(tmp_path)
    result = Session(model).call("ov_copying")
    assert isinstance(result, OvCopyingResult)
    assert result.top is None and result.token is None and result.shape == [2, 4]
    _, _, w_v, w_o = heads(model)
    readout = unembedding(model) @ model.W_E.detach().double()  # W_U' W_E [d_model, d_model]
    eigenvalues = torch.linalg.eigvals(w_o[1, 2] @ readout @ w_v[1, 2])  # AB's are BA's
    expected = eigenvalues.sum().real / eigenvalues.abs().sum()
    assert result.copying[1][2] == pytest.approx(float(expected), abs=1e-9)


def test_a_weight_changed_in_place_changes_the_results(tmp_path: Path) -> None:
    model = boot_tiny(tmp_path, **GQA)
    session = Session(model)
    before = session.call("head_composition", kind="V")
    copying = session.call("ov_copying", token="a")
    assert session.call("head_composition", kind="V") == before  # kept
    assert len(tool._cache[model]) == 2
    with torch.no_grad():
        for parameter in model.parameters():
            if parameter.ndim == 2:
                parameter.add_(torch.randn_like(parameter) * 0.05)
    after = session.call("head_composition", kind="V")
    assert isinstance(after, CompositionResult) and after != before
    torch.testing.assert_close(grid(after), plain_composition(model, "V"), rtol=1e-9, atol=1e-12)
    changed = session.call("ov_copying", token="a")
    assert isinstance(changed, OvCopyingResult) and isinstance(copying, OvCopyingResult)
    assert changed.copying != copying.copying and changed.top != copying.top


def test_bad_input_says_what_is_wrong_and_leaves_the_state(session: Session) -> None:
    session.ablate("L0.H1")
    before, version = session.state.model_dump(), session.version
    with pytest.raises(TranspectorError, match=r"'hi' is 2 tokens \('h', 'i'\); give one token"):
        session.call("ov_copying", token="hi")
    with pytest.raises(TranspectorError, match="head_composition: kind: Input should be 'Q'"):
        session.call("head_composition", kind="X")
    with pytest.raises(TranspectorError, match="head_composition: threshold: Input should be"):
        session.call("head_composition", threshold=2.0)
    assert session.state.model_dump() == before and session.version == version
