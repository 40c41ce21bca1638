"""Moving and casting the live model on the CPU: float32 -> bfloat16 -> float32 gives the
original logits bit for bit, a bfloat16 run is within bfloat16's tolerance of float32, every
view works after a move, and bad targets leave the session exactly as it was."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import transpector
from transpector.errors import TranspectorError
from transpector.kernel.session import Session
from transpector.protocol.interventions import Ablate


@pytest.fixture
def fresh(tiny_llama_dir: Path) -> Session:
    """A session of its own tiny Llama (moves change the model)."""
    session = Session(transpector.load_model(tiny_llama_dir, device="cpu"))
    session.prompt = "hello world"
    return session


def logits(session: Session) -> torch.Tensor:
    return session.run(lens=False).logits


def test_the_state_says_where_the_model_is(fresh: Session) -> None:
    placement = fresh.state.placement
    assert (placement.device, placement.devices, placement.dtype) == ("cpu", ["cpu"], "float32")
    assert placement.available == ["cpu"]  # no CUDA on a CPU-only torch
    assert placement.dtypes == ["float32", "float16", "bfloat16"]


def test_bfloat16_and_back_gives_the_same_logits_bit_for_bit(fresh: Session) -> None:
    before = logits(fresh)
    version = fresh.version
    placement = fresh.move(dtype="bfloat16")
    assert placement.dtype == "bfloat16" and fresh.version == version + 1
    assert fresh.state.placement.dtype == "bfloat16"
    assert fresh.model.cfg.dtype == torch.bfloat16
    assert {p.dtype for p in fresh.model.parameters()} == {torch.bfloat16}
    low = logits(fresh)
    assert low.dtype == torch.bfloat16
    # bfloat16 keeps 8 bits of mantissa: logits of size ~1 agree to a few hundredths
    assert torch.allclose(low.float(), before, atol=0.1, rtol=0.05)
    assert not torch.equal(low.float(), before)  # the run did use bfloat16 weights
    fresh.move(dtype="float32")
    assert {p.dtype for p in fresh.model.parameters()} == {torch.float32}
    assert torch.equal(logits(fresh), before)


def test_every_view_works_after_a_cast_and_the_next_run_is_fresh(
    fresh: Session, tiny_llama_dir: Path
) -> None:
    fresh.add(Ablate(node="L1.H0"))
    fresh.run()  # cached in float32
    fresh.move(dtype="bfloat16")
    ablated = fresh.run()
    assert ablated.logits.dtype == torch.bfloat16  # not the cached float32 run
    assert fresh.node_data("L0.attn").shape[0] == 4
    assert fresh.call("residual_stream") is not None
    # a fresh bfloat16 model with the same ablation computes the same numbers
    other = Session(transpector.load_model(tiny_llama_dir, device="cpu", dtype="bfloat16"))
    other.prompt = "hello world"
    other.add(Ablate(node="L1.H0"))
    assert torch.equal(other.run(lens=False).logits, ablated.logits)
    assert fresh.hooks() == []


@pytest.mark.parametrize("device", ["cuda", "cuda:7", "nonsense", "", "mps"])
def test_a_device_that_is_not_there_is_one_clear_error(fresh: Session, device: str) -> None:
    before, version = logits(fresh), fresh.version
    with pytest.raises(TranspectorError, match="the devices here are cpu") as caught:
        fresh.move(device=device)
    assert "\n" not in str(caught.value)
    assert fresh.version == version and fresh.state.placement.device == "cpu"
    assert fresh.hooks() == [] and torch.equal(logits(fresh), before)


@pytest.mark.parametrize("dtype", ["float64", "int8", "half-ish"])
def test_a_dtype_that_is_not_offered_is_refused(fresh: Session, dtype: str) -> None:
    version = fresh.version
    with pytest.raises(TranspectorError, match="use one of float32, float16, bfloat16"):
        fresh.move(dtype=dtype)
    assert fresh.version == version
    assert {p.dtype for p in fresh.model.parameters()} == {torch.float32}


def test_moving_where_it_already_is_changes_nothing(fresh: Session) -> None:
    version = fresh.version
    assert fresh.move(device="cpu", dtype="float32").device == "cpu"
    assert fresh.version == version


def test_device_map_auto_loads_without_a_gpu(tiny_llama_dir: Path, fresh: Session) -> None:
    model = transpector.load_model(tiny_llama_dir, device_map="auto")
    session = Session(model)
    session.prompt = "hello world"
    assert session.state.placement.devices == ["cpu"]
    assert torch.equal(session.run(lens=False).logits, logits(fresh))
    with pytest.raises(TranspectorError, match=r"^give device or device_map, not both$"):
        transpector.load_model(tiny_llama_dir, device="cpu", device_map="auto")


def test_steering_and_mean_ablation_work_after_a_cast(fresh: Session, tiny_llama_dir: Path) -> None:
    vector = torch.linspace(-1, 1, 64)
    fresh.reference_prompts = ["one reference", "another one"]
    fresh.add(Ablate(node="L0.H2", method="mean"))
    fresh.steer("L1.resid_pre", 2.0, vector=vector)
    fresh.run()  # source activations cached in float32
    fresh.move(dtype="bfloat16")
    steered = fresh.run(lens=False).logits
    other = Session(transpector.load_model(tiny_llama_dir, device="cpu", dtype="bfloat16"))
    other.prompt = "hello world"
    other.reference_prompts = ["one reference", "another one"]
    other.add(Ablate(node="L0.H2", method="mean"))
    other.steer("L1.resid_pre", 2.0, vector=vector)
    assert torch.equal(other.run(lens=False).logits, steered)


def test_a_cast_made_in_a_cell_is_followed(fresh: Session) -> None:
    before, version = logits(fresh), fresh.version
    fresh.model.to(torch.bfloat16)  # not through the session
    after = logits(fresh)
    assert after.dtype == torch.bfloat16  # not the float32 run cached before
    assert fresh.version == version + 1 and fresh.state.placement.dtype == "bfloat16"
    assert torch.allclose(after.float(), before, atol=0.1, rtol=0.05)
    fresh.model.to(torch.float32)
    assert logits(fresh).dtype == torch.float32 and fresh.version == version + 2
