"""session.generate_text and the generation tool against a plain model.hooks + token loop."""

from __future__ import annotations

import time
from typing import Any

import pytest
import torch

from transpector.errors import TranspectorError
from transpector.kernel.session import Session
from transpector.kernel.tools.base import Cancelled
from transpector.kernel.tools.generation import steps
from transpector.protocol.generation import GenerationArgs, GenerationResult

POSITIVE, NEGATIVE = ["I love this", "so good"], ["I hate this", "so bad"]


def reference(
    model: Any, prompt: str, n: int, temperature: float, seed: int, hooks: list[Any], top_k: Any
) -> list[int]:
    """A token loop in plain torch: full forward with the hooks, then argmax or a seeded draw."""
    generator = torch.Generator().manual_seed(seed)
    ids = model.to_tokens(prompt)
    out = []
    for _ in range(n):
        with torch.inference_mode(), model.hooks(fwd_hooks=hooks):
            logits = model(ids)[0, -1].float()
        if temperature == 0:
            token = int(logits.argmax())
        else:
            logits = logits / temperature
            if top_k is not None:
                floor = torch.sort(logits, descending=True).values[top_k - 1]
                logits = torch.where(logits >= floor, logits, torch.tensor(float("-inf")))
            token = int(torch.multinomial(torch.softmax(logits, -1), 1, generator=generator))
        out.append(token)
        ids = torch.cat([ids, torch.tensor([[token]])], dim=1)
    return out


def steer_hook(model: Any, hook: str, scale: float) -> Any:
    """The mean-difference vector at ``hook``, computed here with run_with_cache, as a hook."""

    def mean(prompts: list[str]) -> torch.Tensor:
        rows = []
        for prompt in prompts:
            _, cache = model.run_with_cache(model.to_tokens(prompt), names_filter=[hook])
            rows.append(cache[hook][0])
        return torch.cat(rows).mean(0)

    with torch.inference_mode():
        vector = scale * (mean(POSITIVE) - mean(NEGATIVE))

    def add(act: torch.Tensor, hook: Any) -> torch.Tensor:
        return act + vector

    return add


@pytest.mark.parametrize("temperature, top_k", [(0.0, None), (1.3, None), (0.9, 40)])
def test_steered_generation_equals_a_plain_token_loop(
    session: Session, tiny_model: Any, temperature: float, top_k: Any
) -> None:
    session.steer("L1.resid_pre", scale=6.0, positive=POSITIVE, negative=NEGATIVE)
    hooks = [("blocks.1.hook_resid_pre", steer_hook(tiny_model, "blocks.1.hook_resid_pre", 6.0))]
    start = time.perf_counter()
    got = session.generate_text(
        max_new_tokens=12, temperature=temperature, seed=7, top_k=top_k, progress=False
    )
    elapsed = time.perf_counter() - start
    assert got.token_ids == reference(tiny_model, "hello world", 12, temperature, 7, hooks, top_k)
    clean = session.generate_text(
        max_new_tokens=12, temperature=temperature, seed=7, top_k=top_k, interventions=False,
        progress=False,
    )  # fmt: skip
    assert clean.token_ids == reference(tiny_model, "hello world", 12, temperature, 7, [], top_k)
    assert clean.token_ids != got.token_ids
    assert got.text == tiny_model.tokenizer.decode(got.token_ids) and got.stopped == "length"
    assert tiny_model.hook_dict["blocks.1.hook_resid_pre"].fwd_hooks == []
    assert elapsed < 10


def test_the_tool_streams_clean_then_steered_with_one_seed(session: Session) -> None:
    session.steer("L0.mlp", scale=4.0, neuron="L0.mlp.N3")
    args = GenerationArgs(max_new_tokens=5, temperature=1.0, seed=3)
    run = steps(session, args)
    labels = []
    try:
        while True:
            labels.append(next(run))
    except StopIteration as end:
        result = end.value
    assert isinstance(result, GenerationResult) and result.clean is not None
    assert [s.done for s in labels] == list(range(1, 11)) and {s.total for s in labels} == {10}
    assert labels[4].label == f"clean: {result.clean.text}"
    assert labels[-1].label == f"steered: {result.steered.text}"
    for applied, column in ((False, result.clean), (True, result.steered)):
        alone = session.generate_text(
            max_new_tokens=5, temperature=1.0, seed=3, interventions=applied, progress=False
        )
        assert alone.token_ids == column.token_ids
    seen: list[str] = []
    last = session.generate_text(max_new_tokens=3, on_token=seen.append, progress=False)
    assert len(seen) == 3 and seen[-1] == last.text


def test_a_vanishing_temperature_draws_the_argmax(session: Session, tiny_model: Any) -> None:
    tiny = session.generate_text(max_new_tokens=8, temperature=1.4e-133, seed=3, progress=False)
    assert tiny.token_ids == reference(tiny_model, "hello world", 8, 0.0, 3, [], None)


def test_cancel_keeps_the_text_so_far(session: Session) -> None:
    run = steps(session, GenerationArgs(max_new_tokens=6, compare=True))
    first, second = next(run), next(run)
    assert first.label.startswith("clean: ") and second.done == 2
    with pytest.raises(StopIteration) as end:
        run.throw(Cancelled())
    result = end.value.value
    assert result.clean.stopped == "cancelled" and len(result.clean.token_ids) == 2
    assert result.steered.token_ids == [] and result.steered.stopped == "cancelled"


def test_generation_past_n_ctx_and_bad_arguments_are_refused(session: Session) -> None:
    before = session.state
    with pytest.raises(TranspectorError, match="over this model's n_ctx of 64"):
        session.generate_text(max_new_tokens=60, progress=False)
    with pytest.raises(TranspectorError, match="temperature"):
        session.generate_text(temperature=-1, progress=False)
    with pytest.raises(TranspectorError, match="max_new_tokens"):
        session.generate_text(max_new_tokens=0, progress=False)
    session.patch("L0.resid_post", "L1.resid_pre", source_prompt="jello world")
    with pytest.raises(TranspectorError, match="cannot apply to the generated tokens"):
        session.generate_text(max_new_tokens=2, progress=False)
    assert session.generate_text(max_new_tokens=2, interventions=False, progress=False).token_ids
    assert session.state.interventions[0].kind == "patch" and before.interventions == []


def test_cells_show_progress_as_tokens_come(session: Session, capsys: Any) -> None:
    result = session.tools.generation(max_new_tokens=2)
    assert isinstance(result, GenerationResult) and "steered:" in capsys.readouterr().err
    session.generate_text(max_new_tokens=2)
    assert "generating" in capsys.readouterr().err
