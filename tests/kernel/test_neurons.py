"""Neuron views against plain recomputation: activations from TransformerLens's own cache (and
the MLP computed by hand from its input), top windows from every window run by hand, the
histogram counted with numpy, and logit effects from W_out @ W_U by hand."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

from tests.kernel.test_datasets import _cache, windows_by_hand
from transpector.errors import TranspectorError
from transpector.kernel import corpus
from transpector.kernel.session import Session
from transpector.protocol.neurons import MlpNeuronsResult, NeuronViewResult

WORDS = [
    "the",
    "a",
    "cat",
    "dog",
    "sat",
    "ran",
    "on",
    "under",
    "mat",
    "hill",
    "quick",
    "slow",
    "red",
    "blue",
    "home",
    "far",
    ",",
    ".",
]
TEXTS = [  # 40 texts of different words
    " ".join(WORDS[(i * 7 + j * j * 3 + j * i) % len(WORDS)] for j in range(12 + i % 5))
    for i in range(40)
]


__all__ = ["_cache"]  # autouse: scans cached under tmp_path, the corpus wheel shared


def hook_post(model: Any, tokens: torch.Tensor, layer: int) -> torch.Tensor:
    name = f"blocks.{layer}.mlp.hook_post"
    with torch.inference_mode():
        _, cache = model.run_with_cache(tokens, names_filter=[name])
    return cache[name]


def test_ranked_neurons_are_the_largest_activations_on_the_prompt(
    session: Session, tiny_model: Any
) -> None:
    acts = hook_post(tiny_model, tiny_model.to_tokens("hello world"), 1)[0]  # [pos, d_mlp]
    result = session.call("mlp_neurons", node="L1.mlp", k=7)
    assert isinstance(result, MlpNeuronsResult)
    best, where = acts.max(0)
    order = best.argsort(descending=True)[:7].tolist()
    assert [r.index for r in result.neurons] == order
    assert [r.neuron for r in result.neurons] == [f"L1.mlp.N{i}" for i in order]
    assert [r.position for r in result.neurons] == where[order].tolist()
    assert np.allclose([r.value for r in result.neurons], best[order].tolist(), atol=1e-6)
    at = session.call("mlp_neurons", node="L1.mlp", k=3, position=-1)
    assert isinstance(at, MlpNeuronsResult)
    assert [r.index for r in at.neurons] == acts[-1].argsort(descending=True)[:3].tolist()
    assert {r.position for r in at.neurons} == {acts.shape[0] - 1}


def test_hook_post_is_the_mlp_hidden_activation_by_hand(tiny_model: Any) -> None:
    """What the views read is gelu(LN2(resid_mid) @ W_in + b_in), the value W_out multiplies."""
    tokens = tiny_model.to_tokens("hello world")
    with torch.inference_mode():
        _, cache = tiny_model.run_with_cache(tokens)
        x = cache["blocks.1.hook_resid_mid"][0]
        ln = tiny_model.blocks[1].ln2.original_component
        normed = torch.nn.functional.layer_norm(x, (x.shape[-1],), ln.weight, ln.bias, ln.eps)
        by_hand = torch.nn.functional.gelu(normed @ tiny_model.W_in[1] + tiny_model.b_in[1])
    assert torch.allclose(cache["blocks.1.mlp.hook_post"][0], by_hand, atol=1e-5)


def check_view(model: Any, view: NeuronViewResult, windows: torch.Tensor, k: int) -> None:
    """The view's prompt row, top windows and histogram against every window run by hand."""
    acts = hook_post(model, windows, view.layer)[:, :, view.index]  # [windows, window]
    best, where = acts.max(1)
    shown = [c.window for c in view.contexts]
    expected = best.sort(descending=True).values[:k]
    assert len(set(shown)) == len(shown) == k
    # the top k values in order; windows that tie (the same tokens at the start) may swap
    assert np.allclose([c.max_value for c in view.contexts], expected.tolist(), atol=1e-5)
    others = torch.ones(len(best), dtype=torch.bool)
    others[shown] = False
    assert float(best[others].max()) <= float(expected[-1]) + 1e-6
    for c in view.contexts:
        w = c.window
        assert c.max_position == int(where[w])
        assert c.max_value == pytest.approx(float(best[w]), abs=1e-5)
        assert np.allclose(c.acts, acts[w].tolist(), atol=1e-4)
        assert len(c.tokens) == windows.shape[1]
        assert max(range(len(c.acts)), key=c.acts.__getitem__) == c.max_position
    h = view.histogram
    flat = acts.flatten().double().numpy()
    edges = h.lo + h.width * np.arange(len(h.counts) + 1)
    counted, _ = np.histogram(flat, edges)
    assert sum(h.counts) + h.below + h.above == flat.size == view.dataset.n_tokens
    assert sum(h.counts) == pytest.approx(counted.sum(), abs=2)
    assert np.abs(np.array(h.counts) - counted).max() <= 1  # a value on a float edge may move
    assert h.density == (flat > 0).sum() / flat.size


def test_neuron_view_equals_a_plain_recomputation(session: Session, tiny_model: Any) -> None:
    session.set_dataset(TEXTS, window=24)
    view = session.call("neuron_view", neuron="L1.mlp.N17", k=6, n_logits=5)
    assert isinstance(view, NeuronViewResult)
    windows = torch.tensor(windows_by_hand(tiny_model.tokenizer, TEXTS, 24))
    assert view.dataset.n_windows == len(windows)
    check_view(tiny_model, view, windows, 6)
    prompt = hook_post(tiny_model, tiny_model.to_tokens("hello world"), 1)[0, :, 17]
    assert np.allclose(view.acts, prompt.tolist(), atol=1e-6)
    assert view.tokens == ["<|endoftext|>", *"hello world"]
    # logit effects by hand: LayerNorm, so each token's direction W_U[:, t] * w is centred
    w_u = tiny_model.W_U.detach() * tiny_model.ln_final.original_component.weight[:, None]
    effects = tiny_model.W_out[1, 17].detach() @ (w_u - w_u.mean(0, keepdim=True))
    top, bottom = effects.topk(5), effects.topk(5, largest=False)
    assert [t.id for t in view.top_logits] == top.indices.tolist()
    assert [t.id for t in view.bottom_logits] == bottom.indices.tolist()
    assert np.allclose([t.value for t in view.top_logits], top.values.tolist(), atol=1e-5)
    assert np.allclose([t.value for t in view.bottom_logits], bottom.values.tolist(), atol=1e-5)


def test_the_prompt_row_has_the_interventions_and_the_scan_has_none(
    session: Session, tiny_model: Any
) -> None:
    session.set_dataset(TEXTS, window=24)
    clean = session.call("neuron_view", neuron="L1.mlp.N17", k=3)
    session.ablate("L1.mlp.N17")
    ablated = session.call("neuron_view", neuron="L1.mlp.N17", k=3)
    assert isinstance(clean, NeuronViewResult) and isinstance(ablated, NeuronViewResult)
    assert set(ablated.acts) == {0.0} and set(clean.acts) != {0.0}
    assert ablated.contexts == clean.contexts and ablated.histogram == clean.histogram


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"node": "L1.attn"}, "String should match pattern"),
        ({"node": "L7.mlp"}, "'L7.mlp' is not an MLP node of this model"),
        ({"node": "L1.mlp", "position": 40}, "position 40 is outside the prompt's 12 tokens"),
    ],
)
def test_bad_mlp_nodes_are_refused(session: Session, args: dict[str, Any], message: str) -> None:
    before = session.state.model_dump()
    with pytest.raises(TranspectorError, match=message):
        session.call("mlp_neurons", **args)
    assert session.state.model_dump() == before


def test_bad_neurons_are_refused(session: Session) -> None:
    with pytest.raises(TranspectorError, match=r"L1\.mlp has 256 neurons"):
        session.call("neuron_view", neuron="L1.mlp.N256")
    with pytest.raises(TranspectorError, match=r"the model has no L5\.mlp"):
        session.call("neuron_view", neuron="L5.mlp.N0")


@pytest.mark.default_model
def test_neuron_view_on_smollm2_over_the_corpus(default_model: Any) -> None:
    session = Session(default_model)
    session.prompt = "The capital of France is"
    ranked = session.call("mlp_neurons", node="L3.mlp", k=1)
    assert isinstance(ranked, MlpNeuronsResult)
    neuron = ranked.neurons[0]
    session.set_dataset(window=32, max_windows=24)
    view = session.call("neuron_view", neuron=neuron.neuron, k=5)
    assert isinstance(view, NeuronViewResult)
    texts = list(corpus.default_texts()[:3])
    windows = torch.tensor(windows_by_hand(default_model.tokenizer, texts, 32)[:24])
    assert len(windows) == 24  # the first three essays hold enough windows
    check_view(default_model, view, windows, 5)
    assert max(view.acts) == pytest.approx(neuron.value, abs=1e-5)
    w_u = default_model.W_U.detach() * default_model.ln_final.original_component.weight[:, None]
    effects = default_model.W_out[3, neuron.index].detach() @ w_u  # RMSNorm: not centred
    assert [t.id for t in view.top_logits] == effects.topk(10).indices.tolist()
    assert [t.id for t in view.bottom_logits] == effects.topk(10, largest=False).indices.tolist()
