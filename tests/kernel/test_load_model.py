"""load_model: local directories load; every bad name fails fast with one line naming the fix."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import transpector
from tests.helpers import free_port
from transpector import TranspectorError


def test_local_directory_loads_as_a_bridge_with_matching_logits(tiny_llama_dir: Path) -> None:
    from transformers import AutoModelForCausalLM

    model = transpector.load_model(tiny_llama_dir, device="cpu")
    reference = AutoModelForCausalLM.from_pretrained(tiny_llama_dir, dtype=torch.float32)
    tokens = model.to_tokens("hello")
    with torch.inference_mode():
        assert torch.allclose(model(tokens), reference(tokens).logits, atol=1e-4)
    assert next(model.parameters()).dtype == torch.float32


def test_dtype_is_honoured(tiny_llama_dir: Path) -> None:
    model = transpector.load_model(tiny_llama_dir, device="cpu", dtype="bfloat16")
    assert next(model.parameters()).dtype == torch.bfloat16


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"name_or_path": "/no/such/model"}, "no model directory"),
        ({"dtype": "float8"}, "unknown dtype"),
        ({"device": "tpu-9"}, "unknown device"),
    ],
)
def test_bad_arguments_raise_one_clear_line(
    tiny_llama_dir: Path, kwargs: dict[str, str], needle: str
) -> None:
    kwargs = {"name_or_path": str(tiny_llama_dir)} | kwargs
    with pytest.raises(TranspectorError, match=needle) as caught:
        transpector.load_model(**kwargs)
    assert "\n" not in str(caught.value)


def test_cuda_without_cuda_names_the_fix(tiny_llama_dir: Path) -> None:
    if torch.cuda.is_available():
        assert transpector.load_model(tiny_llama_dir, device="cuda").cfg.device.type == "cuda"
        return
    with pytest.raises(TranspectorError, match="use 'cpu'"):
        transpector.load_model(tiny_llama_dir, device="cuda")


def test_folder_without_config_is_refused(tmp_path: Path) -> None:
    with pytest.raises(TranspectorError, match=r"no config\.json"):
        transpector.load_model(tmp_path)


def test_hub_name_without_a_reachable_hub_fails_in_under_a_second(tmp_path: Path) -> None:
    """A fresh process, hub pointed at a closed port: no retries, one line, under 1 s."""
    script = (
        "import time, transpector\n"
        "t = time.perf_counter()\n"
        "try:\n"
        "    transpector.load_model('someone/unknown-model')\n"
        "except transpector.TranspectorError as e:\n"
        "    print(f'{time.perf_counter() - t:.3f}'); print(e)\n"
    )
    env = dict(os.environ, HF_ENDPOINT=f"http://127.0.0.1:{free_port()}", HF_HOME=str(tmp_path))
    env.pop("HF_HUB_OFFLINE", None)
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60
    )
    seconds, message = done.stdout.strip().splitlines()
    assert float(seconds) < 1.0
    assert "cannot be reached" in message
    assert "load_model('/path/to/model')" in message
