"""Causal tracing on SmolLM2 (Meng et al.'s example): the subject's tokens found from its text,
the answer " Paris", and cells of the residual trace against single noised and restored forwards.
"""

from __future__ import annotations

from typing import Any

import pytest
import torch

from tests.kernel.test_tracing import noise, single_run
from transpector.kernel.session import Session
from transpector.protocol.tracing import TracingResult

pytestmark = pytest.mark.default_model
PROMPT, SUBJECT = "The Eiffel Tower is in the city of", "The Eiffel Tower"


def test_the_residual_trace_of_the_eiffel_tower(default_model: Any) -> None:
    session = Session(default_model)
    session.prompt = PROMPT
    result = session.tools.causal_tracing(subject=SUBJECT, kinds=["resid_pre"], samples=2, seed=1)
    assert isinstance(result, TracingResult)
    assert result.tokens[1:5] == ["The", " E", "iffel", " Tower"]
    assert result.subject_positions == [1, 2, 3, 4] and result.answer == " Paris"
    tokens = default_model.to_tokens(PROMPT)
    with torch.inference_mode():
        logits, cache = default_model.run_with_cache(tokens)
    answer = default_model.tokenizer.encode(" Paris", add_special_tokens=False)[0]
    assert result.clean_prob == pytest.approx(float(logits[0, -1].softmax(-1)[answer]), abs=1e-5)
    draws = noise(default_model, 1, 2, 4, 3.0)
    last = len(result.tokens) - 1
    probs = result.traces[0].probs
    for layer, at in [(None, None), (1, 3), (12, 4), (29, last)]:
        restores = [] if layer is None else [(f"blocks.{layer}.hook_resid_pre", at)]
        runs = [single_run(default_model, tokens, [1, 2, 3, 4], draws[s], restores, cache, answer)
                for s in range(2)]  # fmt: skip
        found = result.corrupted_prob if layer is None else probs[layer][at]
        assert found == pytest.approx(sum(runs) / 2, abs=1e-5), (layer, at)
    # The subject's last token early on, and the last token late, carry the answer.
    assert probs[1][3] > 4 * result.corrupted_prob and probs[29][last] > 4 * result.corrupted_prob
