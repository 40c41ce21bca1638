"""On a CUDA device: moves and casts, a run on CUDA equal to the CPU's within the dtype's
tolerance, out-of-memory moves and runs the session survives (real allocator errors), and a
memory snapshot page drawn from a recorded history. Skipped where there is no CUDA device;
``bench/gpu_check.sh`` runs them."""

from __future__ import annotations

import gc
import pickle
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch

import transpector
from transpector.errors import TranspectorError
from transpector.kernel.session import Session

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")


@pytest.fixture
def fresh(tiny_llama_dir: Path) -> Iterator[Session]:
    session = Session(transpector.load_model(tiny_llama_dir, device="cpu"))
    session.prompt = "hello world"
    yield session
    del session
    gc.collect()
    torch.cuda.empty_cache()


def logits(session: Session) -> torch.Tensor:
    return session.run(lens=False).logits


def test_to_cuda_and_back_is_shown_and_runs_equal_the_cpu(fresh: Session) -> None:
    cpu = logits(fresh)
    placement = fresh.move(device="cuda")
    assert placement.device == "cuda:0" and placement.devices == ["cuda:0"]
    assert "cuda:0" in placement.available and fresh.state.placement.device == "cuda:0"
    assert {p.device.type for p in fresh.model.parameters()} == {"cuda"}
    on_cuda = logits(fresh)
    assert on_cuda.device.type == "cuda"
    torch.testing.assert_close(on_cuda.cpu(), cpu, atol=1e-4, rtol=1e-4)
    assert fresh.node_data("L0.attn").shape[0] == 4  # views read the CUDA run
    fresh.move(device="cpu")
    assert torch.equal(logits(fresh), cpu)
    assert fresh.hooks() == []


def test_bfloat16_on_cuda_is_within_tolerance_and_comes_back_exactly(fresh: Session) -> None:
    cpu = logits(fresh)
    fresh.move(device="cuda", dtype="bfloat16")
    assert fresh.state.placement.dtype == "bfloat16" and fresh.model.cfg.dtype == torch.bfloat16
    low = logits(fresh)
    assert low.dtype == torch.bfloat16
    torch.testing.assert_close(low.float().cpu(), cpu, atol=0.1, rtol=0.05)
    fresh.move(device="cpu", dtype="float32")
    assert torch.equal(logits(fresh), cpu)


def test_a_move_out_of_memory_leaves_the_model_on_the_cpu(fresh: Session) -> None:
    # 64 MiB the forward never reads: moving it needs a new CUDA segment whatever is cached
    fresh.model.blocks[1].register_buffer("ballast", torch.zeros(16 << 20))
    cpu, version = logits(fresh), fresh.version
    gc.collect()
    torch.cuda.empty_cache()
    torch.cuda.set_per_process_memory_fraction(1e-6)  # any new CUDA segment is refused
    try:
        with pytest.raises(TranspectorError) as caught:
            fresh.move(device="cuda")
    finally:
        torch.cuda.set_per_process_memory_fraction(1.0)
    message = str(caught.value)
    assert message.startswith("out of memory moving the model to cuda:0 as float32: CUDA out")
    assert message.endswith("; it is back on cpu as float32")
    assert fresh.version == version and fresh.state.placement.devices == ["cpu"]
    assert {p.device.type for p in fresh.model.parameters()} == {"cpu"}
    assert torch.equal(logits(fresh), cpu)
    assert fresh.move(device="cuda").device == "cuda:0"  # and with memory, it moves


def test_a_run_out_of_memory_is_one_message_and_the_session_goes_on(fresh: Session) -> None:
    fresh.move(device="cuda")
    before = logits(fresh)
    fresh.prompt = "something else"

    def too_big(*args: Any) -> None:
        torch.empty(1 << 46, dtype=torch.uint8, device="cuda")  # 64 TiB: a real allocator OOM

    handle = fresh.model.blocks[1].register_forward_hook(too_big)
    try:
        with pytest.raises(TranspectorError, match=r"^out of memory on cuda:0: CUDA out of memory"):
            fresh.run(lens=False)
    finally:
        handle.remove()
    assert fresh.hooks() == []
    fresh.prompt = "hello world"
    assert torch.equal(logits(fresh), before)


def test_device_map_auto_places_the_model_on_the_gpus(tiny_llama_dir: Path) -> None:
    cpu = Session(transpector.load_model(tiny_llama_dir, device="cpu"))
    cpu.prompt = "hello world"
    session = Session(transpector.load_model(tiny_llama_dir, device_map="auto"))
    session.prompt = "hello world"
    devices = session.state.placement.devices
    assert devices and set(devices) <= {f"cuda:{i}" for i in range(torch.cuda.device_count())}
    torch.testing.assert_close(logits(session).cpu(), logits(cpu), atol=1e-4, rtol=1e-4)


def test_a_memory_snapshot_of_recorded_history_renders(fresh: Session, tmp_path: Path) -> None:
    fresh.record_memory()
    try:
        fresh.move(device="cuda")
        logits(fresh)
        snapshot = fresh.memory_snapshot(tmp_path / "memory.pickle")
        page = fresh.memory_html()
    finally:
        fresh.record_memory(False)
    events = snapshot["device_traces"][0]
    assert any(e["action"] == "alloc" for e in events)
    assert pickle.loads((tmp_path / "memory.pickle").read_bytes())["segments"]
    points = re.search(r'<polyline [^>]*points="([^"]*)"', page)
    assert points is not None and len(points.group(1).split()) > 10
    assert "<h2>cuda:0</h2>" in page and "<script" not in page
