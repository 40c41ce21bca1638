"""Loading live TransformerLens models (``TransformerBridge``): a local directory, a hub name,
or the embedded default model. Every failure is one TranspectorError line that names the fix."""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlparse

from transpector.errors import TranspectorError
from transpector.kernel.default_model import DEFAULT_MODEL_NAME, default_model_dir

if TYPE_CHECKING:
    import torch
    from transformer_lens.model_bridge import TransformerBridge

DTYPES = ("float32", "float16", "bfloat16")


def load_default_model(
    device: str | None = None, dtype: str | torch.dtype | None = None
) -> TransformerBridge:
    """SmolLM2-135M-Instruct as a live ``TransformerBridge``, built offline on first use."""
    return _boot(default_model_dir(), DEFAULT_MODEL_NAME, device, dtype)


def load_model(
    name_or_path: str | os.PathLike[str] | None = None,
    device: str | None = None,
    dtype: str | torch.dtype | None = None,
    device_map: str | dict[str, str | int] | None = None,
) -> TransformerBridge:
    """A live ``TransformerBridge`` from a local Hugging Face directory or a hub name.

    With no name, ``$TRANSPECTOR_MODEL`` is used (set by ``transpector lab --model``), else the
    embedded default model. The device is ``device``, else ``$TRANSPECTOR_DEVICE``, else CUDA when
    available, else the CPU. The dtype defaults to float32. ``device_map="auto"`` (or a dict, as
    in Hugging Face's ``from_pretrained``) shards the model over the GPUs with accelerate instead
    of putting it on one device (with no GPU, "auto" puts it all on the CPU).
    """
    if device_map is not None and device is not None:
        raise TranspectorError("give device or device_map, not both")
    source, label = _source_of(str(name_or_path or os.environ.get("TRANSPECTOR_MODEL") or ""))
    return _boot(source, label, device, dtype, device_map)


def _source_of(name: str) -> tuple[str | Path, str]:
    """Where to boot ``name`` from, and its label."""
    if not name:
        return default_model_dir(), DEFAULT_MODEL_NAME
    path = Path(name).expanduser()
    if path.exists():
        if not (path / "config.json").is_file():
            raise TranspectorError(
                f"{path} is not a Hugging Face model directory (no config.json); "
                "pass a folder written by save_pretrained"
            )
        return path, name
    if name.startswith((".", "/", "~")) or name.count("/") > 1:
        raise TranspectorError(f"no model directory at {path}; check the path")
    return _hub_source(name), name


def _hub_source(name: str) -> str | Path:
    """The local snapshot of a hub model when cached, else the name once the hub answers."""
    from huggingface_hub import constants, snapshot_download

    try:
        return Path(snapshot_download(name, local_files_only=True))
    except Exception:
        pass
    endpoint = urlparse(constants.ENDPOINT)
    reason = "HF_HUB_OFFLINE is set" if constants.HF_HUB_OFFLINE else None
    if reason is None:
        try:
            port = endpoint.port or (443 if endpoint.scheme == "https" else 80)
            socket.create_connection((endpoint.hostname or "", port), timeout=0.8).close()
        except OSError:
            reason = f"the model hub ({endpoint.hostname}) cannot be reached"
    if reason:
        raise TranspectorError(
            f"cannot load '{name}': {reason} and it is not in the local cache; pass a local "
            "directory (transpector.load_model('/path/to/model')) or use the embedded default "
            "model (transpector.load_default_model())"
        )
    return name


def pick_device(device: str | None) -> str:
    import torch

    chosen = device or os.environ.get("TRANSPECTOR_DEVICE") or ""
    if not chosen:
        return "cuda" if torch.cuda.is_available() else "cpu"
    if chosen.startswith("cuda") and not torch.cuda.is_available():
        raise TranspectorError(f"device '{chosen}' asked for, but CUDA is not available; use 'cpu'")
    try:
        torch.device(chosen)
    except RuntimeError as error:
        raise TranspectorError(f"unknown device '{chosen}'; use 'cpu' or 'cuda'") from error
    return chosen


def pick_dtype(dtype: str | torch.dtype | None) -> torch.dtype:
    import torch

    if dtype is None:
        return torch.float32
    if isinstance(dtype, torch.dtype):
        return dtype
    if dtype not in DTYPES:
        raise TranspectorError(f"unknown dtype '{dtype}'; use one of {', '.join(DTYPES)}")
    result: torch.dtype = getattr(torch, dtype)
    return result


def _boot(
    source: str | Path,
    label: str,
    device: str | None,
    dtype: str | torch.dtype | None,
    device_map: str | dict[str, str | int] | None = None,
) -> TransformerBridge:
    chosen_dtype = pick_dtype(dtype)
    chosen_device = None if device_map is not None else pick_device(device)
    placed = {"device": chosen_device} if device_map is None else {"device_map": device_map}
    from transformer_lens.model_bridge import TransformerBridge

    started = time.perf_counter()
    where = chosen_device or f"device_map={device_map!r}"
    print(f"transpector: loading {label} on {where}")
    try:
        model = TransformerBridge.boot_transformers(str(source), dtype=chosen_dtype, **placed)
    except (OSError, ValueError, KeyError) as error:
        first = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise TranspectorError(f"cannot load '{label}': {first}") from error
    model.eval()
    model.cfg.model_name = label  # not the cache path the bridge was booted from
    seconds = time.perf_counter() - started
    print(f"transpector: {label} ready in {seconds:.1f} s")
    return model
