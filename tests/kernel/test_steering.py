"""Steer specs: each source's vector added at the target, checked against plain hooks and torch;
session.code() reproduces it; bad input is refused and changes nothing."""

from __future__ import annotations

import re
from typing import Any

import pytest
import torch

from transpector.errors import TranspectorError
from transpector.kernel.session import Session
from transpector.protocol.interventions import Steer

POSITIVE = ["I love this", "what a joy"]
NEGATIVE = ["I hate this", "what a pain"]


def clean_acts(model: Any, prompts: list[str], hook: str) -> torch.Tensor:
    """Every position of every prompt's activation at ``hook``, stacked [positions, ...]."""
    rows = []
    for prompt in prompts:
        _, cache = model.run_with_cache(model.to_tokens(prompt), names_filter=[hook])
        rows.append(cache[hook][0])
    return torch.cat(rows)


def steered_logits(model: Any, prompt: str, hook: str, index: Any, delta: torch.Tensor) -> Any:
    def add(act: torch.Tensor, hook: Any) -> torch.Tensor:
        act = act.clone()
        act[index] += delta
        return act

    with torch.inference_mode():
        return model.run_with_hooks(model.to_tokens(prompt), fwd_hooks=[(hook, add)])[0]


def test_mean_difference_at_a_residual_node(session: Session, tiny_model: Any) -> None:
    hook = "blocks.1.hook_resid_pre"
    session.steer("L1.resid_pre", scale=3.0, positive=POSITIVE, negative=NEGATIVE)
    with torch.inference_mode():
        pos = clean_acts(tiny_model, POSITIVE, hook).mean(0)
        neg = clean_acts(tiny_model, NEGATIVE, hook).mean(0)
    expected = steered_logits(tiny_model, "hello world", hook, (slice(None),), 3.0 * (pos - neg))
    got = session.run(lens=False).logits
    assert torch.allclose(got, expected, atol=1e-5)
    assert not torch.allclose(got, tiny_model(tiny_model.to_tokens("hello world"))[0], atol=1e-3)


def test_neuron_direction_at_chosen_positions(session: Session, tiny_model: Any) -> None:
    session.steer("L1.resid_mid", scale=-2.5, neuron="L0.mlp.N17", positions=[1, -1])
    direction = tiny_model.blocks[0].mlp.out.weight.detach()[:, 17]  # the W_out row of N17
    assert torch.equal(direction, tiny_model.W_out[0][17])
    index = (slice(None), [1, -1])
    expected = steered_logits(
        tiny_model, "hello world", "blocks.1.hook_resid_mid", index, -2.5 * direction
    )
    assert torch.allclose(session.run(lens=False).logits, expected, atol=1e-5)


def test_tensor_from_a_cell_at_a_head(session: Session, tiny_model: Any) -> None:
    vector = torch.linspace(-1, 1, 16)
    spec = session.steer("L0.H2", scale=0.5, vector=vector, name="mine")
    assert isinstance(spec, Steer) and spec.source.model_dump() == {
        "kind": "tensor",
        "name": "mine",
    }
    vector[:] = 99  # the session kept a copy
    expected = steered_logits(
        tiny_model,
        "hello world",
        "blocks.0.attn.hook_z",
        (slice(None), slice(None), 2),
        0.5 * torch.linspace(-1, 1, 16),
    )
    assert torch.allclose(session.run(lens=False).logits, expected, atol=1e-5)


def test_code_reproduces_every_steering_source(session: Session, tiny_model: Any) -> None:
    session.steer("L1.resid_pre", scale=3.0, positive=POSITIVE, negative=NEGATIVE)
    session.steer("L0.mlp", scale=1.5, neuron="L1.mlp.N3", positions=[0])
    session.steer("L1.mlp.N5", scale=2.0, vector=torch.tensor(0.75), name="scalar")
    session.steer(
        "L1.H0", scale=-1.0, vector=torch.randn(16, generator=torch.Generator().manual_seed(0))
    )
    session.ablate("L0.H1")
    namespace: dict[str, Any] = {"model": tiny_model}
    exec(session.code(), namespace)
    assert torch.allclose(namespace["logits"], session.run(lens=False).logits, atol=1e-5)
    assert tiny_model.hook_dict["blocks.1.hook_resid_pre"].fwd_hooks == []


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda s: s.steer("L1.resid_pre", vector=torch.zeros(63)), "shape [63]"),
        (lambda s: s.steer("L1.H0", neuron="L0.mlp.N1"), "d_model=64"),
        (lambda s: s.steer("L1.resid_pre", neuron="L0.mlp.N999"), "256 neurons"),
        (lambda s: s.steer("L1.resid_pre", vector="nothing"), "no vector named 'nothing'"),
        (lambda s: s.steer("L1.resid_pre"), "give one source"),
        (lambda s: s.steer("L1.resid_pre", positive=["a b"], neuron="L0.mlp.N1"), "one source"),
        (lambda s: s.steer("L1.resid_pre", positive=["a"], negative=[]), "negative"),
        (lambda s: s.steer("L1.resid_pre", positive=["a"], negative=[" "]), "empty"),
        (lambda s: s.steer("L1.resid_pre", vector=torch.zeros(64), positions=[40]), "out of range"),
        (lambda s: s.steer("L9.resid_pre", vector=torch.zeros(64)), "unknown node"),
        (lambda s: s.steer("L1.resid_pre", scale=float("nan"), neuron="L0.mlp.N1"), "scale"),
        (lambda s: s.steer("L1.resid_pre", vector=[float("inf")] * 64), "inf or nan"),
    ],
)
def test_bad_steering_is_refused_and_changes_nothing(
    session: Session, call: Any, message: str
) -> None:
    before, vectors = session.state, session.vectors
    with pytest.raises(TranspectorError, match=re.escape(message)):
        call(session)
    assert session.state == before and session.vectors.keys() == vectors.keys()


def test_an_unknown_source_kind_from_the_wire_is_refused(session: Session) -> None:
    from pydantic import TypeAdapter, ValidationError

    from transpector.protocol.interventions import Intervention

    with pytest.raises(ValidationError, match="mean_diff"):
        TypeAdapter(Intervention).validate_python(
            {"kind": "steer", "node": "L0.mlp", "source": {"kind": "sae_latent", "name": "x"}}
        )
    before = session.state
    with pytest.raises(TranspectorError, match="no vector named 'x'"):
        session.add(Steer(node="L0.mlp", source={"kind": "tensor", "name": "x"}))  # type: ignore[arg-type]
    assert session.state == before


def test_a_vector_in_use_keeps_its_shape(session: Session) -> None:
    session.steer("L1.resid_pre", vector=torch.ones(64), name="v")
    with pytest.raises(TranspectorError, match="shape"):
        session.set_vector("v", torch.ones(3))
    assert session.vectors["v"].shape == (64,)
    session.set_vector("v", torch.zeros(64))
    assert torch.equal(session.vectors["v"], torch.zeros(64))


def test_a_new_value_for_a_vector_in_use_is_a_new_version(
    session: Session, tiny_model: Any
) -> None:
    up = torch.linspace(-1, 1, 64)  # not constant: a LayerNorm takes a constant shift away
    session.steer("L1.resid_pre", scale=2.0, vector=up, name="v")
    first, version = session.run(lens=False).logits, session.version
    session.set_vector("v", -up)
    assert session.version == version + 1
    hook = "blocks.1.hook_resid_pre"
    expected = steered_logits(tiny_model, "hello world", hook, (slice(None),), -2.0 * up)
    assert torch.allclose(session.run(lens=False).logits, expected, atol=1e-5)
    assert not torch.allclose(first, expected, atol=1e-3)
    session.set_vector("unused", torch.ones(3))
    assert session.version == version + 1  # a vector no steer uses changes no run


def test_nnsight_code_refuses_steering_clearly(session: Session) -> None:
    session.steer("L1.resid_pre", neuron="L0.mlp.N1")
    with pytest.raises(TranspectorError, match="does not write steering yet"):
        session.code(style="nnsight")


def test_a_vector_set_again_under_its_name_is_not_read_from_an_old_run(session: Session) -> None:
    up = torch.linspace(-1, 1, 64)
    spec = session.steer("L1.resid_pre", scale=2.0, vector=up, name="v")
    first = session.run(lens=False).logits
    session.remove(spec.id)
    session.set_vector("v", -up)
    session.steer("L1.resid_pre", scale=2.0, vector="v")  # the same spec content as before
    assert not torch.allclose(session.run(lens=False).logits, first, atol=1e-3)


def test_a_resumed_run_adds_a_kept_steer_once(session: Session, tiny_model: Any) -> None:
    up = torch.linspace(-1, 1, 64)
    session.steer("L1.resid_pre", scale=3.0, vector=up)
    session.run(lens=False)
    session.ablate("L1.H0")  # a change at block 1: the run resumes from the clean prefix

    def zero_head(act: torch.Tensor, hook: Any) -> torch.Tensor:
        act = act.clone()
        act[:, :, 0] = 0
        return act

    with torch.inference_mode():
        expected = tiny_model.run_with_hooks(
            tiny_model.to_tokens("hello world"),
            fwd_hooks=[
                ("blocks.1.hook_resid_pre", lambda act, hook: act + 3.0 * up),
                ("blocks.1.attn.hook_z", zero_head),
            ],
        )[0]
    run = session.run(lens=False)
    assert run.timing.resumed_from_layer == 0
    assert torch.allclose(run.logits, expected, atol=1e-5)
