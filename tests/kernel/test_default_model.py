"""The embedded default model: the right weights, offline, with a cache that heals itself."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

from transpector.kernel import default_model as dm
from transpector.kernel import model_cache

pytestmark = pytest.mark.default_model
PROMPT = "The capital of France is"


def test_default_model_is_a_live_bridge_that_knows_paris(default_model) -> None:
    from transformer_lens.model_bridge import TransformerBridge

    assert isinstance(default_model, TransformerBridge)
    assert (default_model.cfg.n_layers, default_model.cfg.n_heads) == (30, 9)
    logits = default_model(PROMPT)
    assert default_model.tokenizer.decode([int(logits[0, -1].argmax())]) == " Paris"


def test_bridge_logits_equal_transformers_reading_the_gguf_directly(default_model) -> None:
    """The converted cache reproduces what transformers computes from the original GGUF."""
    from transformers import AutoModelForCausalLM

    gguf = dm.cache_root() / "downloads" / Path(dm.GGUF_MEMBER).name
    reference = AutoModelForCausalLM.from_pretrained(
        str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32
    )
    tokens = default_model.to_tokens(PROMPT)
    with torch.inference_mode():
        expected = reference(tokens).logits
        actual = default_model(tokens)
    assert torch.allclose(actual, expected, atol=1e-3), (actual - expected).abs().max()


def test_cache_is_keyed_by_the_gguf_sha256_and_verified(default_model) -> None:
    folder = dm.default_model_dir()
    assert dm.GGUF_SHA256[:16] in folder.name
    assert model_cache.problem_with(folder) is None


def test_corrupt_cached_weights_are_detected_and_rebuilt(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, default_model
) -> None:
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    gguf = dm.cache_root() / "downloads" / Path(dm.GGUF_MEMBER).name
    shutil.copy(gguf, downloads / gguf.name)
    monkeypatch.setenv("TRANSPECTOR_CACHE", str(tmp_path))
    folder = dm.default_model_dir()
    weights = folder / "model.safetensors"
    with weights.open("r+b") as f:  # flip bytes in the middle of the weights
        f.seek(weights.stat().st_size // 2)
        f.write(b"\x00\x01\x02\x03")
    assert "does not match" in (model_cache.problem_with(folder) or "")
    rebuilt = dm.default_model_dir()
    assert rebuilt == folder
    assert model_cache.problem_with(rebuilt) is None
