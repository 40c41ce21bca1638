"""Bad input to session.trace / session.generate: one clear error each; the session's state, the
model and its hooks stay as they were, and the next trace runs."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch

from transpector.errors import TranspectorError
from transpector.kernel.session import Session

PROMPT = "hello world"


def no_hooks_on(model: Any) -> bool:
    return all(
        not (p.fwd_hooks or p.bwd_hooks or p._forward_hooks or p._forward_pre_hooks)
        for p in model.hook_dict.values()
    )


def logits_of(model: Any) -> torch.Tensor:
    with torch.no_grad():
        return model(model.to_tokens(PROMPT))[0]


def refused(session: Session, model: Any, attempt: Callable[[], Any], match: str) -> None:
    """``attempt`` raises one TranspectorError matching ``match``; nothing changed."""
    state, before = session.state, logits_of(model)
    with pytest.raises(TranspectorError, match=match):
        attempt()
    assert session.state == state
    assert session.hooks() == [] and no_hooks_on(model)
    torch.testing.assert_close(logits_of(model), before, atol=0, rtol=0)
    with session.trace(PROMPT) as tr:
        logits = tr.model.output.save()
    torch.testing.assert_close(logits[0], session.run().logits, atol=1e-5, rtol=0)


@pytest.fixture
def ablated(session: Session) -> Session:
    """The session with an ablation on, so its hooks are on the model while a trace runs."""
    session.ablate("L0.H1")
    return session


def test_reading_out_of_forward_order(ablated: Session, tiny_model: Any) -> None:
    def attempt() -> None:
        with ablated.trace(PROMPT) as tr:
            tr.hook("blocks.1.hook_resid_pre").output.save()
            tr.hook("blocks.0.hook_resid_pre").output.save()

    refused(ablated, tiny_model, attempt, r"blocks\.0\.hook_resid_pre\.output was read after")


def test_save_on_nothing(ablated: Session, tiny_model: Any) -> None:
    def module() -> None:
        with ablated.trace(PROMPT) as tr:
            tr.model.blocks[0].save()

    def hook() -> None:
        with ablated.trace(PROMPT) as tr:
            tr.hook("blocks.0.hook_resid_pre").save()

    refused(ablated, tiny_model, module, r"blocks\.0\.save\(\) saves nothing")
    refused(ablated, tiny_model, hook, r"saves nothing: save its value")


def test_a_hook_point_or_module_that_does_not_exist(ablated: Session, tiny_model: Any) -> None:
    def hook() -> None:
        with ablated.trace(PROMPT) as tr:
            tr.hook("blocks.7.hook_resid_pre").output.save()

    def module() -> None:
        with ablated.trace(PROMPT) as tr:
            tr.module("blocks.9.attn").output.save()

    refused(ablated, tiny_model, hook, r"no hook point 'blocks\.7\.hook_resid_pre'.*did you mean")
    refused(ablated, tiny_model, module, r"no module 'blocks\.9\.attn'")


@pytest.mark.parametrize(
    ("device", "match"),
    [
        ("cuda:7", r"no device 'cuda:7' here"),
        ("mps", r"no device 'mps' here"),
        ("not a device", r"is not a device"),
    ],
)
def test_a_device_that_is_not_there(
    ablated: Session, tiny_model: Any, device: str, match: str
) -> None:
    refused(ablated, tiny_model, lambda: ablated.trace(PROMPT, device=device), match)
    refused(ablated, tiny_model, lambda: ablated.generate(PROMPT, device=device), match)


def test_the_model_device_is_accepted(session: Session) -> None:
    with session.trace(PROMPT, device="cpu") as tr:
        logits = tr.model.output.save()
    assert logits.shape[1] == 12


@pytest.mark.parametrize(
    ("prompts", "match"),
    [
        (("",), "the prompt is empty"),
        (("x" * 100,), "this model takes at most 64"),
        ((3.5,), "an invoke takes a prompt"),
    ],
)
def test_prompts_that_cannot_run(
    ablated: Session, tiny_model: Any, prompts: tuple[Any, ...], match: str
) -> None:
    refused(ablated, tiny_model, lambda: ablated.trace(*prompts), match)


def test_generation_lengths(ablated: Session, tiny_model: Any) -> None:
    refused(ablated, tiny_model, lambda: ablated.generate(PROMPT, max_new_tokens=0), "at least 1")

    def too_long() -> None:
        with ablated.generate(PROMPT, max_new_tokens=60) as tr:
            tr.result.save()

    refused(ablated, tiny_model, too_long, "max_new_tokens must be 1 to 52")


def test_position_interventions_under_left_padding(session: Session, tiny_model: Any) -> None:
    session.ablate("L0.H1", positions=[2])

    def attempt() -> None:
        with session.trace(["hi", PROMPT]) as tr:
            tr.model.output.save()

    refused(session, tiny_model, attempt, "depends on token positions")
    with session.trace(["hi", PROMPT], interventions=False) as tr:
        logits = tr.model.output.save()
    assert logits.shape[:2] == (2, 12)
