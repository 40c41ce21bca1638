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
