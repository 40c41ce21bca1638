"""Causal tracing against plain TransformerLens: every cell equals the mean over the noise
samples of single forwards (``model.hooks`` with a hook on ``hook_embed`` adding the seeded noise,
and hooks writing the clean run's values from ``run_with_cache``), computed here on their own.

On "hello world" (a BOS, then one token per byte) the subject "lo w" is positions 4..7.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch

from tests.conftest import boot_tiny
from tests.kernel.test_patching import MODELS
from transpector.kernel.session import Session
from transpector.kernel.tools.base import Step
from transpector.kernel.tools.tracing import CAUSAL_TRACING
from transpector.protocol.tracing import TracingArgs, TracingResult

PROMPT, SUBJECT, SUBJECT_AT = "hello world", "lo w", [4, 5, 6, 7]
HOOKS = {"resid_pre": "blocks.{l}.hook_resid_pre", "mlp_out": "blocks.{l}.hook_mlp_out",
         "attn_out": "blocks.{l}.hook_attn_out"}  # fmt: skip


@pytest.fixture(scope="module", params=list(MODELS))
def model(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Any:
    return MODELS[request.param](tmp_path_factory.mktemp(request.param)).eval()


def trace(model: Any, **args: Any) -> TracingResult:
    session = Session(model)
    session.prompt = PROMPT
    result = session.tools.causal_tracing(**{"subject": SUBJECT, **args})
    assert isinstance(result, TracingResult)
    return result


def window(layer: int, size: int, n_layers: int) -> list[int]:
    """The layers centred on ``layer``: layer - size // 2 up to layer + ceil(size / 2)."""
    low = max(0, layer - size // 2)
    return list(range(low, min(n_layers, layer + (size + 1) // 2)))


def noise(model: Any, seed: int, samples: int, n_subject: int, scale: float) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    draws = torch.randn((samples, n_subject, model.cfg.d_model), generator=generator)
    return draws * (scale * float(model.W_E.detach().float().std()))


def single_run(
    model: Any, tokens: torch.Tensor, positions: list[int], added: torch.Tensor,
    restores: list[tuple[str, int]], cache: Any, answer: int,
) -> float:  # fmt: skip
    """The answer's probability at the last position of one forward of ``tokens`` with ``added``
    [len(positions), d_model] added to the token embeddings there, and each (hook, position) of
    ``restores`` set to its clean value."""

    def add(act: torch.Tensor, hook: Any) -> torch.Tensor:
        act = act.clone()
        act[0, positions] = act[0, positions] + added
        return act

    def restore(act: torch.Tensor, hook: Any, at: int) -> torch.Tensor:
        act = act.clone()
        act[0, at] = cache[hook.name][0, at]
        return act

    hooks: list[tuple[str, Callable[..., Any]]] = [("hook_embed", add)]
    for name, at in restores:
        hooks.append((name, lambda act, hook, at=at: restore(act, hook, at)))
    with torch.inference_mode(), model.hooks(fwd_hooks=hooks):
        logits = model(tokens)[0, -1].float()
    return float(logits.softmax(-1)[answer])


def assert_cells_match_single_forwards(model: Any, result: TracingResult, seed: int) -> None:
    samples, positions = result.samples, result.subject_positions
    draws = noise(model, seed, samples, len(positions), result.noise_std / result.embed_std)
    tokens = model.to_tokens(PROMPT)
    with torch.inference_mode():
        logits, cache = model.run_with_cache(tokens)
    answer = int(logits[0, -1].argmax())
    assert result.answer_id == answer
    assert result.clean_prob == pytest.approx(float(logits[0, -1].softmax(-1)[answer]), abs=1e-6)

    def mean(restores: list[tuple[str, int]]) -> float:
        runs = [single_run(model, tokens, positions, draws[s], restores, cache, answer)
                for s in range(samples)]  # fmt: skip
        return sum(runs) / samples

    assert result.corrupted_prob == pytest.approx(mean([]), abs=1e-5)
    n_layers = model.cfg.n_layers
    for found in result.traces:
        for layer in range(n_layers):
            size = 1 if found.kind == "resid_pre" else WINDOW
            layers = window(layer, size, n_layers)
            assert found.restored[layer] == layers
            for at in result.positions:
                restores = [(HOOKS[found.kind].format(l=j), at) for j in layers]
                expected = mean(restores)
                assert found.probs[layer][at] == pytest.approx(expected, abs=1e-5), (layer, at)


WINDOW = 2  # on 2 layers: layer 0 restores layer 0, layer 1 restores layers 0 and 1


def test_every_cell_equals_single_noised_and_restored_forwards(model: Any) -> None:
    result = trace(model, samples=3, seed=7, window=WINDOW, copies_per_forward=7)
    assert result.subject_positions == SUBJECT_AT and result.resumed and result.note == ""
    assert [t.kind for t in result.traces] == ["resid_pre", "mlp_out", "attn_out"]
    assert result.tokens[0] == "<|endoftext|>" and "".join(result.tokens[1:]) == PROMPT
    assert abs(result.corrupted_prob - result.clean_prob) > 1e-5  # the noise matters
    assert result.copies_per_forward == 7 and result.skipped > 0
    assert_cells_match_single_forwards(model, result, seed=7)


def test_a_model_that_cannot_resume_runs_full_noised_forwards(tmp_path: Path) -> None:
    """Soft-capped logits are computed outside the blocks: no forward may start at a block."""
    capped = boot_tiny(tmp_path, output_logits_soft_cap=3.0).eval()
    result = trace(capped, samples=2, seed=1, window=WINDOW)
    assert not result.resumed and result.note.startswith("full forwards: the model soft-caps")
    assert_cells_match_single_forwards(capped, result, seed=1)


def test_without_noise_every_cell_is_the_clean_probability(model: Any) -> None:
    result = trace(model, noise_scale=0.0, samples=2)
    assert result.noise_std == 0.0
    assert result.corrupted_prob == pytest.approx(result.clean_prob, abs=1e-6)
    for found in result.traces:
        for row in found.probs:
            assert row == pytest.approx([result.clean_prob] * len(row), abs=1e-6)


def test_the_seed_reproduces_the_grid_and_another_seed_changes_it(model: Any) -> None:
    first, again = trace(model, seed=5, samples=2), trace(model, seed=5, samples=2)
    other = trace(model, seed=6, samples=2)
    assert first == again
    assert other.corrupted_prob != first.corrupted_prob
    assert other.traces[0].probs != first.traces[0].probs


def test_restoring_the_input_of_the_first_layer_at_the_subject_restores_the_clean_run(
    model: Any,
) -> None:
    """A one-token subject: its clean residual entering layer 0 is the whole clean input (the
    noise is nowhere else), so that cell is the clean run; the other cells of layer 0 restore a
    value the noise never reached, so theirs is the noised run."""
    for args in ({"subject": "w"}, {"subject": None, "positions": [-5]}):
        result = trace(model, samples=3, noise_scale=10.0, **args)
        assert result.subject_positions == [7]
        row = result.traces[0].probs[0]
        assert row[7] == pytest.approx(result.clean_prob, abs=1e-6)
        others = row[:7] + row[8:]
        assert others == pytest.approx([result.corrupted_prob] * 11, abs=1e-6)
        assert abs(result.corrupted_prob - result.clean_prob) > 1e-5  # the noise matters


def test_a_given_answer_and_kinds(model: Any) -> None:
    result = trace(model, answer="d", kinds=["attn_out", "resid_pre"], samples=1)
    assert result.answer == "d" and result.answer_id == model.tokenizer.encode("d")[-1]
    assert [t.kind for t in result.traces] == ["resid_pre", "attn_out"]
    with torch.inference_mode():
        probs = model(model.to_tokens(PROMPT))[0, -1].float().softmax(-1)
    assert result.clean_prob == pytest.approx(float(probs[result.answer_id]), abs=1e-6)


def test_windows_cut_at_the_ends_of_the_model(tmp_path: Path) -> None:
    deep = boot_tiny(tmp_path, n_layers=5)
    result = trace(deep, samples=1, window=3, kinds=["mlp_out"])
    assert result.traces[0].restored == [[0, 1], [0, 1, 2], [1, 2, 3], [2, 3, 4], [3, 4]]
    assert result.traces[0].restored == [window(layer, 3, 5) for layer in range(5)]
    even = trace(deep, samples=1, window=4, kinds=["attn_out"])
    assert even.traces[0].restored == [[0, 1], [0, 1, 2], [0, 1, 2, 3], [1, 2, 3, 4], [2, 3, 4]]


def test_chunks_and_the_memory_budget_change_only_the_forwards(model: Any) -> None:
    whole = trace(model, samples=2, seed=2)
    single = trace(model, samples=2, seed=2, copies_per_forward=1)
    budget = trace(model, samples=2, seed=2, memory_mb=1)
    n_runs = 3 * 2 * 12 * 2 - whole.skipped
    assert single.forwards == 2 + n_runs and single.copies_per_forward == 1
    # The noised runs, then one forward per (kind, first layer): resid_pre from L0 and L1; the
    # windows of 10 layers of mlp_out and attn_out both restore layers 0 and 1, from L0.
    assert whole.forwards == 1 + 4
    assert budget.forwards > whole.forwards
    for other in (single, budget):
        assert other.corrupted_prob == pytest.approx(whole.corrupted_prob, abs=1e-6)
        for mine, theirs in zip(other.traces, whole.traces, strict=True):
            for row, expected in zip(mine.probs, theirs.probs, strict=True):
                assert row == pytest.approx(expected, abs=1e-6)


def test_progress_after_each_forward_and_the_interventions_left_out(model: Any) -> None:
    session = Session(model)
    session.prompt = PROMPT
    args = TracingArgs(subject=SUBJECT, samples=2, kinds=["resid_pre"], copies_per_forward=10)
    plain = session.tools.causal_tracing(**args.model_dump(exclude_defaults=True))
    session.ablate("L0.H1")
    before = session.version, session.hooks()
    assert CAUSAL_TRACING.steps is not None
    steps = CAUSAL_TRACING.steps(session, args)
    seen = []
    with pytest.raises(StopIteration) as end:
        while True:
            seen.append(next(steps))
    # Layer 0: positions 0..3 and 8..11 restore what the noise never reached (16 runs skipped),
    # 4..7 need 8 runs; layer 1: positions 0..3 are before the subject (8 skipped), 16 runs.
    assert seen == [
        Step(0, 48, "clean and noised runs"), Step(24, 48, "noised runs"),
        Step(32, 48, "resid_pre from L0"), Step(42, 48, "resid_pre from L1"),
        Step(48, 48, "resid_pre from L1"),
    ]  # fmt: skip
    assert end.value.value == plain  # the model as it is: no intervention applied
    assert (session.version, session.hooks()) == before
