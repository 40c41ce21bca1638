"""Attribution patching against plain autograd: every cell equals (clean - corrupt activation) .
gradient, recomputed here with our own hooks (``model.hooks``) and ``torch.autograd.grad`` on the
corrupt run; where the model is close to linear (the last layer's heads) the estimate is close
to real activation patching; bad input changes nothing; no gradient and no hook stays behind.

The pair "hello world" / "hello wurld" differs in one token (position 8, after the BOS).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch

from tests.conftest import boot_tiny
from tests.tiny_models import tiny_llama_dir
from transpector.errors import TranspectorError
from transpector.kernel.adapter import ModelAdapter
from transpector.kernel.adapter.gradients import activation_gradients
from transpector.kernel.session import Session
from transpector.kernel.tools.attribution import ATTRIBUTION_PATCHING
from transpector.kernel.tools.base import Cancelled
from transpector.protocol.attribution import AttributionArgs, AttributionResult
from transpector.protocol.patching import PatchingResult

CLEAN, CORRUPT = "hello world", "hello wurld"
SWEEPS = ["resid_pre", "attn_out", "mlp_out", "head_out", "head_out_by_pos", "head_pattern",
          "q", "k", "v"]  # fmt: skip
HOOKS = {"resid_pre": "blocks.{l}.hook_resid_pre", "attn_out": "blocks.{l}.hook_attn_out",
         "mlp_out": "blocks.{l}.hook_mlp_out", "head_out": "blocks.{l}.attn.hook_z",
         "head_out_by_pos": "blocks.{l}.attn.hook_z",
         "head_pattern": "blocks.{l}.attn.hook_pattern", "q": "blocks.{l}.attn.hook_q",
         "k": "blocks.{l}.attn.hook_k", "v": "blocks.{l}.attn.hook_v"}  # fmt: skip
ALL = slice(None)
Metric = Callable[[torch.Tensor], torch.Tensor]  # logits [batch, pos, d_vocab] -> a scalar


def rotary_gqa_rms(folder: Path) -> Any:
    return boot_tiny(
        folder, positional_embedding_type="rotary", n_key_value_heads=2, normalization_type="RMS"
    )


def hf_llama(folder: Path) -> Any:
    """SmolLM2's path: a Hugging Face Llama through boot_transformers."""
    from transformer_lens.model_bridge import TransformerBridge

    return TransformerBridge.boot_transformers(str(tiny_llama_dir(folder)), device="cpu")


MODELS: dict[str, Callable[[Path], Any]] = {
    "ln": boot_tiny, "rotary_gqa_rms": rotary_gqa_rms, "hf_llama": hf_llama,
}  # fmt: skip


@pytest.fixture(scope="module", params=list(MODELS))
def model(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Any:
    return MODELS[request.param](tmp_path_factory.mktemp(request.param)).eval()


def ids(model: Any, *texts: str) -> list[int]:
    return [model.tokenizer.encode(t, add_special_tokens=False)[0] for t in texts]


def logit_diff(model: Any) -> Metric:
    a, b = ids(model, "d", "x")
    return lambda logits: logits[0, -1, a].float() - logits[0, -1, b].float()


def sweep_session(model: Any) -> Session:
    session = Session(model)
    session.add_pair(CLEAN, CORRUPT)
    session.set_metric("logit_diff", correct="d", wrong="x")
    return session


def estimate(session: Session, **args: Any) -> AttributionResult:
    result = session.tools.attribution_patching(**args)
    assert isinstance(result, AttributionResult)
    return result


def reference_index(sweep: str, cell: tuple[int, ...]) -> tuple[Any, ...]:
    """Cell (layer, a[, b]) of the grid as an index into the hook's [batch, ...] activation."""
    if sweep in ("resid_pre", "attn_out", "mlp_out"):
        return (ALL, cell[1])
    if sweep == "head_out_by_pos":
        return (ALL, cell[2], cell[1])  # z [batch, pos, head, d_head]: head cell[1], pos cell[2]
    if sweep == "head_pattern":
        return (ALL, cell[1])  # [batch, head, query, key]
    return (ALL, ALL, cell[1])  # z, q, k, v [batch, pos, head, d_head]


def reference(model: Any, sweep: str, shape: list[int], metric: Metric) -> torch.Tensor:
    """Every cell by hand: the clean activations from ``run_with_cache``; the corrupt run with a
    hook on each layer that keeps its activation and passes it on (in the graph: the parameters
    require gradients), and ``torch.autograd.grad`` of the metric to them."""
    assert all(p.requires_grad for p in model.parameters())
    _, clean = model.run_with_cache(model.to_tokens(CLEAN))
    hooks = [HOOKS[sweep].format(l=layer) for layer in range(model.cfg.n_layers)]
    kept: dict[str, torch.Tensor] = {}

    def keeper(name: str) -> Callable[[torch.Tensor, Any], torch.Tensor]:
        def keep(act: torch.Tensor, hook: Any) -> torch.Tensor:
            kept[name] = act
            return act

        return keep

    with torch.enable_grad(), model.hooks(fwd_hooks=[(h, keeper(h)) for h in hooks]):
        value = metric(model(model.to_tokens(CORRUPT)))
    grads = dict(zip(hooks, torch.autograd.grad(value, [kept[h] for h in hooks]), strict=True))
    found = torch.zeros(shape, dtype=torch.float64)
    for cell in torch.ones(shape).nonzero().tolist():
        hook, index = hooks[cell[0]], reference_index(sweep, tuple(cell))
        change = clean[hook][index].double() - kept[hook][index].detach().double()
        found[tuple(cell)] = (change * grads[hook][index].double()).sum()
    return found


def hook_count(model: Any) -> int:
    """Every torch hook on every module of the model, forward and backward."""
    return sum(
        len(mod._forward_hooks) + len(mod._forward_pre_hooks) + len(mod._backward_hooks)
        for mod in model.modules()
    )


def no_grads(model: Any) -> bool:
    return all(p.grad is None for p in model.parameters())


@pytest.mark.parametrize("sweep", SWEEPS)
def test_every_cell_equals_the_gradient_formula(model: Any, sweep: str) -> None:
    result = estimate(sweep_session(model), sweep=sweep)
    expected = reference(model, sweep, result.shape, logit_diff(model))
    got = torch.tensor(result.raw, dtype=torch.float64).reshape(result.shape)
    assert torch.allclose(got, expected, rtol=1e-5, atol=1e-5), (got - expected).abs().max()
    assert expected.abs().max() > 1e-4  # not a grid of zeros
    span = result.clean_value - result.corrupt_value
    assert result.values == pytest.approx([r / span for r in result.raw], abs=1e-12)
    with torch.inference_mode():
        plain = [float(logit_diff(model)(model(model.to_tokens(p)))) for p in (CLEAN, CORRUPT)]
    assert [result.clean_value, result.corrupt_value] == pytest.approx(plain, abs=1e-4)
    assert no_grads(model)


@pytest.mark.parametrize("kind", ["top_prob", "token_loss"])
def test_the_other_metrics_are_differentiated_too(model: Any, kind: str) -> None:
    session = Session(model)
    session.add_pair(CLEAN, CORRUPT)
    with torch.inference_mode():
        top = int(model(model.to_tokens(CLEAN))[0, -1].argmax())
    (d,) = ids(model, "d")

    def metric(logits: torch.Tensor) -> torch.Tensor:
        log_probs = logits[0, -1].float().log_softmax(-1)
        return log_probs[top].exp() if kind == "top_prob" else -log_probs[d]

    if kind == "token_loss":
        session.set_metric("token_loss", token="d")
    result = estimate(session, sweep="head_out_by_pos")
    expected = reference(model, "head_out_by_pos", result.shape, metric)
    got = torch.tensor(result.raw, dtype=torch.float64).reshape(result.shape)
    assert torch.allclose(got, expected, rtol=1e-5, atol=1e-6), (got - expected).abs().max()
    assert expected.abs().max() > 1e-5


def test_the_last_layer_heads_are_close_to_real_patching(model: Any) -> None:
    """The last layer's head outputs reach the logits through W_O and the final norm only: the
    first-order estimate is within a few hundredths of the real patch (normalized units)."""
    session = sweep_session(model)
    last = model.cfg.n_layers - 1
    result = estimate(session, sweep="head_out", layers=[last], compare=True)
    real = session.tools.activation_patching(sweep="head_out", layers=[last])
    assert isinstance(real, PatchingResult) and result.real == real
    assert result.values is not None and real.values is not None
    assert max(abs(v) for v in real.values) > 0.1
    assert result.values == pytest.approx(real.values, abs=0.03)
    r = torch.corrcoef(torch.tensor([result.values, real.values], dtype=torch.float64))[0, 1]
    assert result.correlation == pytest.approx(float(r), abs=1e-9) and float(r) > 0.99


def test_compare_runs_the_real_sweep_with_progress_and_a_cancel_keeps_the_estimate(
    model: Any,
) -> None:
    session = sweep_session(model)
    assert ATTRIBUTION_PATCHING.steps is not None
    args = AttributionArgs(sweep="resid_pre", compare=True, copies_per_forward=2)
    steps = ATTRIBUTION_PATCHING.steps(session, args)
    seen = []
    with pytest.raises(StopIteration) as end:
        while True:
            seen.append(next(steps))
    assert [(s.done, s.total, s.label) for s in seen[:3]] == [
        (0, 2, "clean run"), (1, 2, "corrupt run and gradients"),
        (0, 24, "clean and corrupt runs"),
    ]  # fmt: skip
    assert seen[-1].done == seen[-1].total == 24
    done = end.value.value
    assert done.real == session.tools.activation_patching(sweep="resid_pre", copies_per_forward=2)
    assert done.correlation is not None and done.note == ""

    steps = ATTRIBUTION_PATCHING.steps(session, args)
    for _ in range(3):  # into the real sweep
        next(steps)
    with pytest.raises(StopIteration) as end:
        steps.throw(Cancelled())
    kept = end.value.value
    assert kept.real is None and kept.correlation is None
    assert kept.note == "the comparison was cancelled: estimate only"
    assert kept.raw == done.raw and kept.values == done.values

    steps = ATTRIBUTION_PATCHING.steps(session, args)
    next(steps)
    with pytest.raises(Cancelled):  # before the estimate: nothing to keep
        steps.throw(Cancelled())


def test_no_gradient_or_hook_stays_whatever_the_mode_and_the_parameters(model: Any) -> None:
    """Under inference mode, with parameters that require no gradient, and with interventions
    in the state (not applied): the same numbers, and the model as it was."""
    session = sweep_session(model)
    plain = estimate(session, sweep="head_out_by_pos")
    hooks = hook_count(model)
    session.ablate("L0.H1")
    with torch.inference_mode():
        assert estimate(session, sweep="head_out_by_pos") == plain
    params = list(model.parameters())
    try:
        for p in params:
            p.requires_grad_(False)
        frozen = estimate(session, sweep="head_out_by_pos")
        assert not any(p.requires_grad for p in params)
    finally:
        for p in params:
            p.requires_grad_(True)
    assert frozen.raw == pytest.approx(plain.raw, rel=1e-6, abs=1e-9)
    assert no_grads(model) and hook_count(model) == hooks
    assert [h.owned for h in session.hooks()] == []


BAD = [
    ({}, "attribution patching needs a clean/corrupt pair: add one with session.add_pair"),
    ({"clean": CLEAN, "corrupt": "hello there world"},
     "the clean prompt has 12 tokens and the corrupt one 18: a pair needs the same number"),
    ({"clean": CLEAN, "corrupt": CORRUPT,
      "metric": {"kind": "logit_diff", "correct": "dd", "wrong": "x"}},
     "'dd' is 2 tokens \\('d', 'd'\\); give one token"),
    ({"clean": CLEAN}, "give both clean and corrupt prompts, or neither"),
    ({"pair": 0, "clean": CLEAN, "corrupt": CORRUPT}, "give a pair index or clean and corrupt"),
    ({"pair": 3}, "pair 3 out of range: the session has 1"),
    ({"clean": CLEAN, "corrupt": CORRUPT, "sweep": "head_out", "positions": [0]},
     "the head_out sweep patches every position at once"),
]  # fmt: skip


@pytest.mark.parametrize(("args", "message"), BAD)
def test_bad_input_says_what_is_wrong_and_changes_nothing(
    model: Any, args: dict[str, Any], message: str
) -> None:
    session = Session(model)
    session.prompt = CLEAN
    session.ablate("L0.H1")
    if "pair" in args:
        session.add_pair(CLEAN, CORRUPT)

    def seen() -> tuple[Any, ...]:
        return session.state.model_dump(), session.version, session.hooks(), hook_count(model)

    before = seen()
    with pytest.raises(TranspectorError, match=f"^{message}"):
        session.tools.attribution_patching(**args)
    assert seen() == before
    assert no_grads(model)


def test_the_hooks_go_when_the_forward_or_the_backward_fails(model: Any) -> None:
    adapter = ModelAdapter(model)
    tokens = model.to_tokens(CORRUPT)
    hooks = hook_count(model)
    keep = ["blocks.0.hook_resid_pre", "blocks.1.attn.hook_z"]

    def fails(logits: torch.Tensor) -> torch.Tensor:
        raise RuntimeError("no metric")

    with pytest.raises(RuntimeError, match="no metric"):
        activation_gradients(adapter, tokens, keep, fails)
    with pytest.raises(IndexError):  # a token id past the vocabulary: the forward fails
        activation_gradients(adapter, tokens + model.cfg.d_vocab, keep, lambda x: x.sum())
    assert hook_count(model) == hooks and no_grads(model)
