"""A knowledge edit on SmolLM2: "The Eiffel Tower is located in the city of" → " Rome" at L4's
MLP changes that fact's top-1 and a paraphrase's, keeps unrelated prompts' top-1, reports numbers
equal to the MLP with its weights edited by hand, and leaves the weights as they were."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from tests.kernel.test_knowledge_edit import _by_hand, _mlp_fact
from transpector.kernel.session import Session
from transpector.protocol.datasets import DatasetSpec

PROMPT = "The Eiffel Tower is located in the city of"
PARAPHRASE = "Where is the Eiffel Tower? It is in the city of"
UNRELATED = ["The capital of France is", "The Colosseum is located in the city of"]


@pytest.mark.default_model
def test_rome_moves_the_eiffel_tower_to_rome_and_nothing_else(default_model: Any) -> None:
    weights = {name: p.detach().clone() for name, p in default_model.named_parameters()}
    session = Session(default_model)
    session.prompt = PROMPT
    clean = session.run(lens=False).logits
    result = session.edit_fact(
        PROMPT,
        "The Eiffel Tower",
        " Rome",
        "L4.mlp",
        paraphrases=[PARAPHRASE],
        unrelated=UNRELATED,
        dataset=DatasetSpec(max_windows=100),
    )
    edited, paraphrase, *unrelated = result.checks
    assert (edited.top_before, edited.top_after) == (" Paris", " Rome")
    assert (paraphrase.top_before, paraphrase.top_after) == (" Paris", " Rome")
    kept = [(u.top_before, u.top_after) for u in unrelated]
    assert kept == [(" Paris", " Paris"), (" Rome", " Rome")]
    edit = session._sources.edits.kept(*_mlp_fact(session, result.spec))
    assert edit is not None
    rome = default_model.tokenizer.encode(" Rome", add_special_tokens=False)[0]
    for check in result.checks:
        tokens = default_model.to_tokens(check.prompt)
        by_hand = _by_hand(default_model, tokens, 4, edit.left, edit.right)[-1].softmax(-1)
        assert check.target_after == pytest.approx(float(by_hand[rome]), abs=1e-4)
    top = session.run(lens=False).top_k[-1][0]
    assert top.token == " Rome" and top.prob == pytest.approx(edited.target_after, abs=1e-5)
    session.remove(result.spec.id)
    assert torch.equal(session.run(lens=False).logits, clean)
    assert all(torch.equal(p, weights[name]) for name, p in default_model.named_parameters())
    assert session.hooks() == []
