"""Which devices exist here, where the model's weights are, and checked targets for a move.

A target that is not there ("cuda" on a machine without CUDA, "cuda:7" with one GPU, a nonsense
string) or a dtype that is not offered is one TranspectorError that lists what is."""

from __future__ import annotations

from typing import Any

import torch

from transpector.errors import TranspectorError
from transpector.protocol.placement import DTYPES, Placement


def available_devices() -> list[str]:
    devices = ["cpu"]
    if torch.cuda.is_available():
        devices += [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    return devices


def weight_devices(model: Any) -> list[str]:
    """Every device holding a parameter or buffer, in the order the model lists them."""
    found: dict[str, None] = {}
    for tensor in [*model.parameters(), *model.buffers()]:
        found[_name(tensor.device)] = None
    return list(found) or ["cpu"]


def weight_dtype(model: Any) -> torch.dtype:
    """The dtype of the floating-point parameters (the first one's)."""
    for parameter in model.parameters():
        if parameter.is_floating_point():
            dtype: torch.dtype = parameter.dtype
            return dtype
    return torch.float32


def placement_of(model: Any) -> Placement:
    devices = weight_devices(model)
    embed = getattr(model, "W_E", None)
    device = _name(embed.device) if isinstance(embed, torch.Tensor) else devices[0]
    return Placement(
        device=device,
        devices=devices,
        dtype=str(weight_dtype(model)).removeprefix("torch."),
        available=available_devices(),
        dtypes=list(DTYPES),
    )


def check_device(name: object) -> torch.device:
    """``name`` as a device that is here ("cuda" means the current CUDA device)."""
    here = available_devices()
    listing = ", ".join(here) + ("" if len(here) > 1 else " (no CUDA device)")
    if not isinstance(name, str | torch.device) or not str(name).strip():
        raise TranspectorError(f"give the device as a name; the devices here are {listing}")
    try:
        device = torch.device(name)
    except (RuntimeError, ValueError):
        raise TranspectorError(
            f"'{name}' is not a device; the devices here are {listing}"
        ) from None
    if device.type == "cuda" and device.index is None and torch.cuda.is_available():
        device = torch.device("cuda", torch.cuda.current_device())
    if _name(device) not in here:
        raise TranspectorError(f"there is no device '{name}' here; the devices here are {listing}")
    return device


def check_dtype(name: object) -> torch.dtype:
    text = str(name).removeprefix("torch.") if isinstance(name, str | torch.dtype) else ""
    if text not in DTYPES:
        raise TranspectorError(f"dtype {name!r} is not offered; use one of {', '.join(DTYPES)}")
    dtype: torch.dtype = getattr(torch, text)
    return dtype


def _name(device: torch.device) -> str:
    """``cpu``, ``cuda:0``: a CUDA device always with its index."""
    if device.type == "cuda" and device.index is None:
        return "cuda:0"
    return str(device)
