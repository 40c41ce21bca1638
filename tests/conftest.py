"""Shared fixtures. Tests use 1 torch thread: CI machines have 2 noisy cores."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
pytest_plugins = ["pytest_jupyter.jupyter_server"]

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session", autouse=True)
def _one_torch_thread() -> None:
    import torch

    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def default_model():  # type: ignore[no-untyped-def]
    """The real embedded SmolLM2-135M-Instruct, loaded once per test run."""
    import transpector

    return transpector.load_default_model(device="cpu")


@pytest.fixture(scope="session")
def tiny_llama_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.tiny_models import tiny_llama_dir

    return tiny_llama_dir(tmp_path_factory.mktemp("tiny-llama"))


def boot_tiny(folder: Path, **overrides: object):  # type: ignore[no-untyped-def]
    """A 2-layer random TransformerBridge (boot_native) with a byte-level tokenizer."""
    from transformer_lens.config import TransformerBridgeConfig
    from transformer_lens.model_bridge import TransformerBridge

    from tests.tiny_models import byte_tokenizer

    tokenizer = byte_tokenizer(folder)
    settings: dict[str, object] = dict(
        n_layers=2,
        d_model=64,
        n_heads=4,
        d_head=16,
        d_mlp=256,
        n_ctx=64,
        d_vocab=len(tokenizer),
        act_fn="gelu",
        normalization_type="LN",
        seed=0,
    )
    settings.update(overrides)
    return TransformerBridge.boot_native(TransformerBridgeConfig(**settings), tokenizer=tokenizer)


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """Sequential, absolute positions, LayerNorm: a real model small enough for every test."""
    return boot_tiny(tmp_path_factory.mktemp("tiny"))


@pytest.fixture
def session(tiny_model):  # type: ignore[no-untyped-def]
    """A fresh Session of the tiny model on the prompt "hello world"."""
    from transpector.kernel.session import Session

    s = Session(tiny_model)
    s.prompt = "hello world"
    return s
