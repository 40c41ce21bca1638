"""One forward per (state, prompt): every view of a run reads its activations, and an edit costs
one forward once the views' hooks are known."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch

from tests.conftest import boot_tiny
from transpector.kernel.run_context import RunResult
from transpector.kernel.session import Session
from transpector.protocol.interventions import Ablate, Freeze, Intervention, Isolate, Patch


@pytest.fixture
def forwards(tiny_model: Any) -> Iterator[list[int]]:
    """Counts forward passes, full or resumed: each ends in the model's unembed (the lens reads
    the unembedding's weights without calling it)."""
    count = [0]

    def counted(module: Any, args: Any) -> None:
        count[0] += 1

    handle = tiny_model.unembed.register_forward_pre_hook(counted)
    try:
        yield count
    finally:
        handle.remove()


def views(session: Session) -> None:
    """What the canvas asks for after an edit: outputs, lens, a node, a pattern, a lens cell."""
    session.run()
    session.node_data("L0.mlp")
    session.node_data("L1.H2", "pattern")
    session.lens_top_k("L1.resid_pre", -1, k=5)


def test_every_view_of_a_state_shares_one_forward(session: Session, forwards: list[int]) -> None:
    views(session)
    first = forwards[0]
    assert first <= 3  # the run, then one forward for each hook the run had not kept
    views(session)
    assert forwards[0] == first  # the same state: nothing runs again


def test_an_edit_costs_one_forward(session: Session, forwards: list[int]) -> None:
    views(session)
    warm_up = session.ablate("L1.H3")  # the first resume checks the model once
    views(session)
    session.remove(warm_up.id)
    views(session)
    for turn in range(3):
        before = forwards[0]
        spec = session.ablate("L1.H0")
        views(session)
        assert forwards[0] - before == (1 if turn == 0 else 0)  # then the run of {L1.H0} is kept
        before = forwards[0]
        session.remove(spec.id)
        views(session)
        assert forwards[0] == before  # back to the clean state: its run is kept
    session.ablate("L0.H1")
    views(session)
    for _ in range(3):  # with another intervention kept, adding and removing cost one each
        before = forwards[0]
        spec = session.ablate("L1.H0")
        views(session)
        assert forwards[0] - before == 1
        before = forwards[0]
        session.remove(spec.id)
        views(session)
        assert forwards[0] - before == 1


def test_views_of_the_context_equal_a_fresh_forward(session: Session, tiny_model: Any) -> None:
    session.ablate("L0.H1")
    views(session)
    pattern = session.node_data("L1.H2", "pattern")
    fresh = Session(tiny_model)
    fresh.prompt = session.prompt
    fresh.ablate("L0.H1")
    assert torch.equal(pattern, fresh.node_data("L1.H2", "pattern"))
    assert torch.equal(session.run().logits, fresh.run().logits)


def test_a_weight_changed_in_place_runs_again(session: Session, tiny_model: Any) -> None:
    before = session.run().logits
    with torch.no_grad():
        tiny_model.unembed.original_component.weight.mul_(2.0)
    try:
        after = session.run().logits
        assert not torch.allclose(before, after)
    finally:
        with torch.no_grad():
            tiny_model.unembed.original_component.weight.div_(2.0)


SAME_LENGTH, SHORTER = "jolly words", "abc"
KINDS = [
    *(
        Ablate(node=node, method=m, seed=3)
        for node in ("L1.H2", "L1.mlp", "L1.resid_pre")
        for m in ("zero", "mean", "resample")
    ),
    Ablate(node="L1.mlp.N7", positions=[1, -1]),
    Isolate(node="L1.H1"),
    Freeze(node="L1.H3", prompt=SAME_LENGTH),
    Freeze(node="L1.mlp", prompt=SHORTER, positions=[1, 2]),
    Patch(node="L1.attn", source="L0.mlp", source_prompt=SHORTER, positions=[0, -1]),
    Patch(node="L1.resid_pre", source="L1.resid_pre", source_prompt=SAME_LENGTH),
]


@pytest.fixture(params=["ln", "rotary_gqa_rms"])
def model(request: pytest.FixtureRequest, tiny_model: Any, tmp_path: Path) -> Any:
    if request.param == "ln":
        return tiny_model
    return boot_tiny(tmp_path, positional_embedding_type="rotary", n_key_value_heads=2,
                     normalization_type="RMS")  # fmt: skip


@pytest.mark.parametrize("spec", KINDS, ids=lambda s: f"{s.kind}-{s.node}")
def test_a_resumed_run_equals_a_full_forward(model: Any, spec: Intervention) -> None:
    session = Session(model)
    session.prompt, session.reference_prompts = "hello world", ["some text", "other words"]
    session.run()
    session.ablate("L0.H0")  # kept by both runs: baked into the resumed-from input of block 1
    clean = session.run()
    added = session.add(spec)
    resumed = session.run()
    assert resumed.timing.resumed_from_layer == 1
    full = Session(model)
    full.prompt, full.reference_prompts = session.prompt, session.reference_prompts
    for kept in session.interventions:
        full.add(kept)
    expected = full.run()
    with full.applied() as applied, torch.inference_mode():  # a plain forward, hooks and all
        plain = applied(model.to_tokens(session.prompt))[0]
    assert float((resumed.logits - plain).abs().max()) <= 1e-5
    assert float((expected.logits - plain).abs().max()) <= 1e-5
    assert float((resumed.logits - clean.logits).abs().max()) > 1e-4  # the change shows
    assert torch.allclose(
        torch.tensor(resumed.head_dla), torch.tensor(expected.head_dla), atol=1e-4
    )
    assert _same_lens(resumed, expected)
    session.remove(added.id)
    back = session.run()
    assert back.timing.resumed_from_layer is not None
    assert float((back.logits - clean.logits).abs().max()) <= 1e-5


def _same_lens(a: RunResult, b: RunResult) -> bool:
    assert a.logit_lens is not None and b.logit_lens is not None
    assert a.logit_lens.token_ids == b.logit_lens.token_ids
    return torch.allclose(
        torch.tensor(a.logit_lens.probs), torch.tensor(b.logit_lens.probs), atol=1e-5
    )


def test_an_embedding_intervention_runs_in_full_and_says_why(session: Session) -> None:
    session.run()
    session.ablate("embed")
    timing = session.run().timing
    assert timing.resumed_from_layer is None and "embeddings" in timing.note
