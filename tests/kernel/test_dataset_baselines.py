"""Mean and resample ablation baselines from a dataset: the reference prompts become windows of
it, and an ablation then writes the mean (or a draw) of those windows' activations, checked
against hooks written by hand."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from tests.kernel.test_datasets import _cache, windows_by_hand
from transpector.errors import TranspectorError
from transpector.kernel.session import Session

__all__ = ["_cache"]
TEXTS = [
    f"Entry {i}: {'red' if i % 2 else 'blue'} boats drift past {i * 7} lamps." for i in range(12)
]


def test_reference_prompts_are_windows_of_the_dataset(session: Session, tiny_model: Any) -> None:
    session.set_dataset(TEXTS, window=20)
    total = session.dataset.n_windows
    version = session.version
    refs = session.references_from_dataset(n=4)
    assert session.reference_prompts == refs and session.version == version + 1
    windows = windows_by_hand(tiny_model.tokenizer, TEXTS, 20)
    picked = [i * total // 4 for i in range(4)]
    assert refs == [tiny_model.tokenizer.decode(windows[i][1:]) for i in picked]


def test_a_mean_ablation_writes_the_mean_over_the_windows(
    session: Session, tiny_model: Any
) -> None:
    session.set_dataset(TEXTS, window=20)
    refs = session.references_from_dataset(n=5)
    hook = "blocks.1.mlp.hook_post"
    with torch.inference_mode():
        pooled = torch.cat(
            [
                tiny_model.run_with_cache(tiny_model.to_tokens(r), names_filter=[hook])[1][hook][0]
                for r in refs
            ]
        )[:, 3]  # every position of every window
    session.ablate("L1.mlp.N3", method="mean")

    def write_mean(act: torch.Tensor, hook: Any) -> torch.Tensor:
        act = act.clone()
        act[:, :, 3] = pooled.mean()
        return act

    tokens = tiny_model.to_tokens(session.prompt)
    with torch.inference_mode(), tiny_model.hooks(fwd_hooks=[(hook, write_mean)]):
        expected = tiny_model(tokens)[0]
    assert torch.allclose(session.run(lens=False).logits, expected, atol=1e-5)


def test_a_resample_ablation_draws_values_of_the_windows(session: Session, tiny_model: Any) -> None:
    session.set_dataset(TEXTS, window=20)
    refs = session.references_from_dataset(n=3)
    hook = "blocks.0.mlp.hook_post"
    with torch.inference_mode():
        pooled = torch.cat(
            [
                tiny_model.run_with_cache(tiny_model.to_tokens(r), names_filter=[hook])[1][hook][0]
                for r in refs
            ]
        )[:, 7]
    session.ablate("L0.mlp.N7", method="resample", seed=3)
    with session.applied() as model, torch.inference_mode():
        _, cache = model.run_with_cache(model.to_tokens(session.prompt), names_filter=[hook])
    written = cache[hook][0, :, 7]
    assert all(bool((pooled - v).abs().min() < 1e-6) for v in written)


@pytest.mark.parametrize("n", [0, 10_000])
def test_a_bad_count_is_refused_and_the_references_stay(session: Session, n: int) -> None:
    session.set_dataset(TEXTS, window=20)
    session.reference_prompts = ["a b c"]
    before = session.state.model_dump()
    with pytest.raises(TranspectorError, match=f"n must be 1 to {session.dataset.n_windows}"):
        session.references_from_dataset(n=n)
    assert session.state.model_dump() == before
