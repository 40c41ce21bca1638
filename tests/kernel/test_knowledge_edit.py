"""Knowledge edits (rank-one, ROME) on the tiny model: what the hooks do equals the MLP with its
weight matrix edited by hand, the weights never change, removal restores the logits bit for bit,
session.code() reproduces it, a cancel leaves nothing, and bad input is refused."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from transpector.errors import TranspectorError
from transpector.kernel import scan_cache
from transpector.kernel.interventions import edit_of, plan
from transpector.kernel.knowledge.rome import rank_one
from transpector.kernel.session import Session
from transpector.kernel.tools.base import Cancelled
from transpector.kernel.tools.knowledge import KNOWLEDGE_EDIT
from transpector.protocol.datasets import DatasetSpec, TextsSource
from transpector.protocol.interventions import EditFact
from transpector.protocol.knowledge import KnowledgeEditArgs

TEXTS = DatasetSpec(source=TextsSource(texts=["hello world, the cat sat. " * 12]), window=16)


@pytest.fixture(autouse=True)
def _own_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRANSPECTOR_CACHE", str(tmp_path / "cache"))


def _edited(session: Session) -> Any:
    return session.edit_fact(
        "hello world", "hello", " cat", "L1.mlp", unrelated=["the cat sat"], dataset=TEXTS
    )


def _by_hand(model: Any, tokens: torch.Tensor, layer: int, left: Any, right: Any) -> Any:
    """Logits with layer ``layer``'s MLP output recomputed from its hidden activation and the
    edited weight ``W_out + left ⊗ right`` (TransformerLens's W_out: [d_mlp, d_model])."""
    w_out = model.W_out[layer].detach() + torch.outer(left, right)
    bias = model.blocks[layer].mlp.out.original_component.bias  # None: a bias-free MLP
    b_out = 0.0 if bias is None else bias.detach()
    kept: dict[str, Any] = {}

    def keep(act: Any, hook: Any) -> None:
        kept["post"] = act

    def replace(out: Any, hook: Any) -> Any:
        return kept["post"] @ w_out + b_out

    hooks = [(f"blocks.{layer}.mlp.hook_post", keep), (f"blocks.{layer}.hook_mlp_out", replace)]
    with torch.inference_mode(), model.hooks(fwd_hooks=hooks):
        return model(tokens)[0]


def test_the_edit_equals_the_mlp_with_its_weights_edited_by_hand(
    session: Session, tiny_model: Any
) -> None:
    weights = {name: p.detach().clone() for name, p in tiny_model.named_parameters()}
    clean = session.run(lens=False).logits
    result = _edited(session)
    assert [i.kind for i in session.interventions] == ["edit"]
    edit = session._sources.edits.kept(*_mlp_fact(session, result.spec))
    assert edit is not None and edit.left.shape == (256,) and edit.right.shape == (64,)
    edited = session.run(lens=False).logits
    tokens = tiny_model.to_tokens("hello world")
    assert torch.allclose(edited, _by_hand(tiny_model, tokens, 1, edit.left, edit.right), atol=1e-4)
    assert not torch.allclose(edited, clean, atol=1e-3)
    edited_row = result.checks[0]
    by_hand = _by_hand(tiny_model, tokens, 1, edit.left, edit.right)[-1].softmax(-1)
    cat = tiny_model.tokenizer.encode(" cat", add_special_tokens=False)[0]
    assert edited_row.target_after == pytest.approx(float(by_hand[cat]), abs=1e-5)
    assert edited_row.target_before == pytest.approx(float(clean[-1].softmax(-1)[cat]), abs=1e-5)
    session.remove(result.spec.id)
    assert torch.equal(session.run(lens=False).logits, clean)
    assert all(torch.equal(p, weights[name]) for name, p in tiny_model.named_parameters())
    assert session.hooks() == []


def test_session_code_writes_the_edit(session: Session, tiny_model: Any) -> None:
    _edited(session)
    session.ablate("L0.H1")
    namespace: dict[str, Any] = {"model": tiny_model}
    exec(session.code(), namespace)
    assert torch.allclose(namespace["logits"], session.run(lens=False).logits, atol=1e-5)
    assert session.hooks() == []
    with pytest.raises(TranspectorError, match="does not write knowledge edits"):
        session.code(style="nnsight")


def test_an_edit_spec_added_alone_is_computed_and_resumed_runs_agree(session: Session) -> None:
    session.set_dataset(TEXTS)
    session.ablate("L1.H0")  # the run resumes at layer 1 after this
    before = session.run(lens=False).logits
    fact = {"prompt": "hello world", "subject": "world", "target": "!", "dataset": TEXTS}
    spec = session.add(EditFact(node="L0.mlp", **fact))
    resumed = session.run(lens=False).logits
    session._contexts.clear()
    assert torch.equal(session.run(lens=False).logits, resumed)
    assert not torch.equal(resumed, before)
    session.remove(spec.id)
    assert torch.equal(session.run(lens=False).logits, before)


def test_a_spec_is_the_same_edit_when_computed_again(session: Session) -> None:
    """The keys' dataset is part of the spec: with the kept edits gone (a restart, say) and
    another session dataset, the spec computes the same vectors again."""
    result = _edited(session)
    assert result.spec.dataset == TEXTS and result.spec.key_windows == 256
    mlp_fact = _mlp_fact(session, result.spec)
    first = session._sources.edits.kept(*mlp_fact)
    edited = session.run(lens=False).logits
    session._sources.edits._kept.clear()
    session._contexts.clear()
    session.set_dataset(["something else entirely, " * 30], window=16)
    assert torch.equal(session.run(lens=False).logits, edited)
    again = session._sources.edits.kept(*mlp_fact)
    assert first is not None and again is not None and again is not first
    assert torch.equal(again.left, first.left) and torch.equal(again.right, first.right)


def test_rank_one_solves_for_the_key_and_gives_delta_there() -> None:
    """left = C⁻¹ k* (with its tiny ridge) and (k_prompt · left) right = δ, by plain algebra."""
    generator = torch.Generator().manual_seed(0)
    a = torch.randn(12, 12, generator=generator, dtype=torch.float64)
    moment = a @ a.T / 12 + torch.eye(12, dtype=torch.float64)  # positive definite
    key, prompt_key = torch.randn(2, 12, generator=generator, dtype=torch.float64)
    delta = torch.randn(5, generator=generator, dtype=torch.float64)
    left, right = rank_one(moment.float(), key.float(), prompt_key.float(), delta.float())
    ridge = 1e-6 * float(moment.diagonal().mean())
    assert torch.allclose((moment + ridge * torch.eye(12)) @ left.double(), key, atol=1e-4)
    assert torch.allclose(torch.dot(prompt_key, left.double()) * right.double(), delta, atol=1e-5)


def test_a_cancel_leaves_no_hook_and_no_cache_entry(session: Session) -> None:
    args = KnowledgeEditArgs(
        node="L0.mlp", text="hello world", subject="hello", target=" cat", dataset=TEXTS
    )
    steps = KNOWLEDGE_EDIT.steps(session, args)  # type: ignore[misc]
    next(steps)
    next(steps)  # inside the keys' scan
    with pytest.raises(Cancelled):
        steps.throw(Cancelled())
    assert session.hooks() == [] and scan_cache.entries() == []
    result = session.call("knowledge_edit", **args.model_dump())
    assert len(scan_cache.entries()) == 1 and result.steps >= 1
    assert session.interventions == [] and session.hooks() == []


@pytest.mark.parametrize(
    "fields, message",
    [
        ({"node": "L0.H1"}, "acts on an MLP"),
        ({"node": "L0.attn"}, "acts on an MLP"),
        ({"node": "L9.mlp"}, "L9.mlp"),
        ({"subject": "cat"}, "does not contain the subject"),
        ({"target": "   "}, "the target is empty"),
        ({"positions": [0]}, "no positions"),
        (
            {"prompt": "hello world " * 5, "subject": "hello", "target": "x" * 10},
            "takes at most 64",
        ),
    ],
)
def test_bad_edits_are_refused_with_the_state_unchanged(
    session: Session, fields: dict[str, Any], message: str
) -> None:
    session.set_dataset(TEXTS)
    spec = {"node": "L0.mlp", "prompt": "hello world", "subject": "hello", "target": " x"}
    spec["dataset"] = TEXTS
    version = session.version
    with pytest.raises(TranspectorError, match=message):
        session.add(EditFact(**{**spec, **fields}))
    assert session.version == version and session.interventions == []
    assert session.hooks() == []


def _mlp_fact(session: Session, spec: EditFact) -> Any:
    (step,) = plan(spec, session.graph)
    return edit_of(step)
