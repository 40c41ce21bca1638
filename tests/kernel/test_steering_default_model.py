"""Steering SmolLM2: a mean-difference vector between two prompt sets turns a review sour, and
the steered generation equals a plain model.hooks token loop token for token."""

from __future__ import annotations

import time
from typing import Any

import pytest
import torch

from transpector.kernel.session import Session

pytestmark = pytest.mark.default_model
PROMPT = "I watched the movie last night and I thought it was"
HAPPY = [
    "I love this, it is wonderful and amazing.",
    "What a great, happy, beautiful day.",
    "This is excellent, I adore it.",
]
SOUR = [
    "I hate this, it is terrible and awful.",
    "What a horrible, sad, ugly day.",
    "This is dreadful, I despise it.",
]
HOOK = "blocks.10.hook_resid_pre"


def mean_act(model: Any, prompts: list[str]) -> torch.Tensor:
    rows = []
    for prompt in prompts:
        _, cache = model.run_with_cache(model.to_tokens(prompt), names_filter=[HOOK])
        rows.append(cache[HOOK][0])
    return torch.cat(rows).mean(0)


def greedy(model: Any, n: int, hooks: list[Any]) -> list[int]:
    ids = model.to_tokens(PROMPT)
    out: list[int] = []
    for _ in range(n):
        with torch.inference_mode(), model.hooks(fwd_hooks=hooks):
            token = int(model(ids)[0, -1].argmax())
        out.append(token)
        ids = torch.cat([ids, torch.tensor([[token]])], dim=1)
    return out


def test_a_mean_difference_vector_changes_the_text(default_model: Any) -> None:
    session = Session(default_model)
    session.prompt = PROMPT
    clean = session.generate_text(max_new_tokens=12, progress=False)
    session.steer("L10.resid_pre", scale=4.0, positive=SOUR, negative=HAPPY)
    start = time.perf_counter()
    steered = session.generate_text(max_new_tokens=12, progress=False)
    seconds = time.perf_counter() - start
    with torch.inference_mode():
        vector = 4.0 * (mean_act(default_model, SOUR) - mean_act(default_model, HAPPY))
    reference = greedy(default_model, 12, [(HOOK, lambda act, hook: act + vector)])
    assert steered.token_ids == reference
    assert clean.token_ids == greedy(default_model, 12, [])
    print(f"clean {clean.text!r}; steered {steered.text!r} in {seconds:.2f} s")
    assert "great" in clean.text and "great" not in steered.text
    assert "nightmare" in steered.text
    namespace: dict[str, Any] = {"model": default_model}
    exec(session.code(), namespace)
    with (
        torch.inference_mode(),
        default_model.hooks(fwd_hooks=[(HOOK, lambda act, hook: act + vector)]),
    ):
        expected = default_model(default_model.to_tokens(PROMPT))[0]
    assert torch.allclose(namespace["logits"], expected, atol=1e-4)
