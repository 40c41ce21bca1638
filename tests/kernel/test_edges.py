"""Edge attribution patching and circuits against plain computations.

Each edge's score is (clean - corrupt output of the sender) . d metric / d (the receiver's own
input) on the corrupt run. Here the outputs come from ``run_with_cache`` and W_O, and the
gradients from our own hooks that add a zero tensor at a receiver's input (``ln_final.hook_in``,
``ln2.hook_in``, ``ln1.hook_in``) and ``torch.autograd.grad``; a head's own input gradient is
recomputed with the attention written out in plain torch on the weights. Circuits: every edge
kept gives the clean metric, none the corrupt one, and one edge into the logits removed equals
a plain patch of the final norm's input.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch

from tests.kernel.test_attribution import CLEAN, CORRUPT, MODELS, hook_count, logit_diff
from tests.kernel.test_attribution import sweep_session as pair_session
from transpector.errors import TranspectorError
from transpector.kernel.adapter.edges import edge_graph
from transpector.kernel.session import Session
from transpector.protocol.edges import CircuitResult, EdgeAttributionResult


@pytest.fixture(scope="module", params=list(MODELS))
def model(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Any:
    return MODELS[request.param](tmp_path_factory.mktemp(request.param)).eval()


def scores(session: Session) -> dict[tuple[str, str], float]:
    result = session.tools.edge_attribution(max_edges=1_000_000)
    assert isinstance(result, EdgeAttributionResult)
    assert len(result.edges) == result.n_edges
    return {(e.from_node, e.to_node): e.score for e in result.edges}


def outputs(model: Any, prompt: str) -> dict[str, torch.Tensor]:
    """Each sender's output [pos, d_model] on ``prompt``, by hand."""
    _, cache = model.run_with_cache(model.to_tokens(prompt))
    found = {"embed": cache["hook_embed"][0]}
    if "hook_pos_embed" in cache and model.cfg.positional_embedding_type == "standard":
        found["pos_embed"] = cache["hook_pos_embed"][0]
    for layer in range(model.cfg.n_layers):
        z = cache[f"blocks.{layer}.attn.hook_z"][0]
        for head in range(model.cfg.n_heads):
            found[f"L{layer}.H{head}"] = z[:, head] @ model.W_O[layer, head]
        found[f"L{layer}.mlp"] = cache[f"blocks.{layer}.hook_mlp_out"][0]
    return found


def input_gradients(model: Any, hooks: list[str], metric: Callable[..., torch.Tensor]) -> dict:
    """d metric / d (a zero added at each hook) on the corrupt run."""
    added = {h: torch.zeros(1, len(model.to_tokens(CORRUPT)[0]), model.cfg.d_model,
                            requires_grad=True) for h in hooks}  # fmt: skip

    def add(act: torch.Tensor, hook: Any) -> torch.Tensor:
        return act + added[hook.name]

    with torch.enable_grad(), model.hooks(fwd_hooks=[(h, add) for h in hooks]):
        value = metric(model(model.to_tokens(CORRUPT)))
    grads = torch.autograd.grad(value, [added[h] for h in hooks])
    return {h: g[0] for h, g in zip(hooks, grads, strict=True)}


def test_every_circuit_edge_score_equals_the_plain_gradient_formula(model: Any) -> None:
    session = pair_session(model)
    found = scores(session)
    clean, corrupt = outputs(model, CLEAN), outputs(model, CORRUPT)
    n = model.cfg.n_layers
    hooks = ["ln_final.hook_in"] + [f"blocks.{layer}.ln{i}.hook_in" for layer in range(n)
                                    for i in (1, 2)]  # fmt: skip
    grads = input_gradients(model, hooks, logit_diff(model))

    def expected(sender: str, hook: str) -> float:
        change = (clean[sender] - corrupt[sender]).detach().double()
        return float((change * grads[hook].double()).sum())

    checked = 0
    for sender in clean:
        assert found[(sender, "unembed")] == pytest.approx(
            expected(sender, "ln_final.hook_in"), abs=1e-5
        )
        for layer in range(n):
            s_layer = -1 if sender in ("embed", "pos_embed") else int(sender[1:].split(".")[0])
            mlp_reads = s_layer < layer or (s_layer == layer and ".H" in sender)
            if mlp_reads:
                got = found[(sender, f"L{layer}.mlp")]
                assert got == pytest.approx(
                    expected(sender, f"blocks.{layer}.ln2.hook_in"), abs=1e-5
                )
            if s_layer < layer:  # the heads of a layer read ln1's input together
                heads = sum(found[(sender, f"L{layer}.H{h}")] for h in range(model.cfg.n_heads))
                assert heads == pytest.approx(
                    expected(sender, f"blocks.{layer}.ln1.hook_in"), abs=1e-5
                )
                checked += 1
    assert checked > 0 and max(abs(v) for v in found.values()) > 1e-4


def plain_head_z(model: Any, layer: int, head: int, x: torch.Tensor) -> torch.Tensor:
    """Head ``head``'s z [pos, d_head] from the residual x [pos, d_model]: LayerNorm, then
    causal softmax attention, written out on the weights (the LayerNorm tiny model)."""
    ln = model.blocks[layer].ln1.original_component
    centred = x - x.mean(-1, keepdim=True)
    normed = centred / (centred.pow(2).mean(-1, keepdim=True) + model.cfg.eps).sqrt()
    normed = normed * ln.weight + ln.bias
    q, k, v = (normed @ getattr(model, f"W_{c}")[layer, head]
               + getattr(model, f"b_{c}")[layer, head] for c in "QKV")  # fmt: skip
    scores = q @ k.T / model.cfg.d_head**0.5
    causal = torch.ones_like(scores, dtype=torch.bool).tril()
    return scores.masked_fill(~causal, float("-inf")).softmax(-1) @ v


def test_a_heads_own_input_gradient_equals_plain_torch_attention(tmp_path: Any) -> None:
    model = MODELS["ln"](tmp_path).eval()
    session = pair_session(model)
    found = scores(session)
    clean, corrupt = outputs(model, CLEAN), outputs(model, CORRUPT)
    _, cache = model.run_with_cache(model.to_tokens(CORRUPT))
    metric = logit_diff(model)
    layer = 1
    d_z = input_gradients_z(model, layer, metric)
    x = cache[f"blocks.{layer}.ln1.hook_in"][0].clone().requires_grad_(True)
    for head in range(model.cfg.n_heads):
        with torch.enable_grad():
            z = plain_head_z(model, layer, head, x)
            assert torch.allclose(z, cache[f"blocks.{layer}.attn.hook_z"][0, :, head], atol=1e-5)
            (grad,) = torch.autograd.grad(z, x, grad_outputs=d_z[:, head])
        for sender in ("embed", "pos_embed", "L0.H1", "L0.mlp"):
            want = float(
                ((clean[sender] - corrupt[sender]).detach().double() * grad.double()).sum()
            )
            assert found[(sender, f"L{layer}.H{head}")] == pytest.approx(want, abs=1e-6)


def input_gradients_z(model: Any, layer: int, metric: Callable[..., torch.Tensor]) -> torch.Tensor:
    """d metric / d hook_z [pos, head, d_head] of ``layer`` on the corrupt run."""
    kept: dict[str, torch.Tensor] = {}

    def keep(act: torch.Tensor, hook: Any) -> torch.Tensor:
        kept["z"] = act
        return act

    with torch.enable_grad(), model.hooks(fwd_hooks=[(f"blocks.{layer}.attn.hook_z", keep)]):
        value = metric(model(model.to_tokens(CORRUPT)))
    (grad,) = torch.autograd.grad(value, kept["z"])
    return grad[0]


def every_edge(session: Session) -> list[tuple[str, str]]:
    eg = edge_graph(session.graph, session.adapter.hook_names)
    return [(eg.senders[s], eg.receivers[r]) for s, r in eg.allowed.nonzero().tolist()]


def circuit(session: Session, keep: list[tuple[str, str]]) -> CircuitResult:
    result = session.tools.circuit(keep=keep)
    assert isinstance(result, CircuitResult)
    return result


def test_every_edge_kept_is_the_clean_run_and_none_the_corrupt_run(model: Any) -> None:
    session = pair_session(model)
    with torch.inference_mode():
        plain = [float(logit_diff(model)(model(model.to_tokens(p)))) for p in (CLEAN, CORRUPT)]
    everything, nothing = circuit(session, every_edge(session)), circuit(session, [])
    assert abs(plain[0] - plain[1]) > 1e-3
    assert [everything.clean_value, everything.corrupt_value] == pytest.approx(plain, abs=1e-4)
    assert everything.value == pytest.approx(plain[0], abs=1e-4)
    assert everything.normalized == pytest.approx(1.0, abs=1e-3) and everything.removed == 0
    assert nothing.value == pytest.approx(plain[1], abs=1e-4)
    assert nothing.normalized == pytest.approx(0.0, abs=1e-3) and nothing.kept == 0


def test_one_edge_into_the_logits_removed_is_a_plain_patch(model: Any) -> None:
    session = pair_session(model)
    sender = f"L{model.cfg.n_layers - 1}.H0"
    keep = [edge for edge in every_edge(session) if edge != (sender, "unembed")]
    result = circuit(session, keep)
    change = outputs(model, CLEAN)[sender] - outputs(model, CORRUPT)[sender]

    def patch(act: torch.Tensor, hook: Any) -> torch.Tensor:
        return act - change

    with torch.inference_mode(), model.hooks(fwd_hooks=[("ln_final.hook_in", patch)]):
        want = float(logit_diff(model)(model(model.to_tokens(CLEAN))))
    assert result.removed == 1 and result.value == pytest.approx(want, abs=1e-4)
    assert abs(want - result.clean_value) > 1e-5


@pytest.mark.parametrize(
    ("keep", "message"),
    [
        ([("L9.H0", "unembed")], "no sender 'L9.H0'"),
        ([("embed", "L0.resid_pre")], "no receiver 'L0.resid_pre'"),
        ([("L1.H0", "L0.H1")], "L1.H0 -> L0.H1 is no edge"),
    ],
)
def test_a_bad_circuit_is_refused_and_changes_nothing(
    tiny_model: Any, keep: list[tuple[str, str]], message: str
) -> None:
    session = pair_session(tiny_model)
    version, hooks = session.version, hook_count(tiny_model)
    with pytest.raises(TranspectorError, match=message):
        session.tools.circuit(keep=keep)
    assert session.version == version and hook_count(tiny_model) == hooks


def test_a_pair_of_unequal_lengths_is_refused(tiny_model: Any) -> None:
    session = Session(tiny_model)
    with pytest.raises(TranspectorError, match="same number"):
        session.tools.edge_attribution(clean="hello world", corrupt="hi")
    with pytest.raises(TranspectorError, match="needs a clean/corrupt pair"):
        session.tools.edge_attribution()
