"""Moving and casting the live model one piece at a time (a block, the embedding, ...), so a big
model reports progress and can be cancelled between pieces.

Casting to a narrower dtype first keeps the weights as they were in CPU memory; casting back
restores them from there, so float32 -> bfloat16 -> float32 gives the same numbers bit for bit,
unless the weights were changed in between (then they are cast up from what they are, and the
kept copy is dropped). Any failure, an out-of-memory error or a cancel included, puts every
piece back where and as it was before the move."""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass
from typing import Any

import torch

from transpector.errors import TranspectorError
from transpector.kernel.placement.where import weight_devices, weight_dtype
from transpector.kernel.tools.base import Step

FLOAT32 = ("inv_freq",)  # buffer names that stay float32 in every dtype
Stamp = tuple[tuple[str, int, int, torch.dtype], ...]


@dataclass
class Kept:
    """The weights before a cast down, on the CPU, and the stamp of the model they belong to."""

    dtype: torch.dtype
    tensors: dict[str, torch.Tensor]
    stamp: Stamp


def floating(model: Any) -> list[tuple[str, torch.Tensor]]:
    named = [*model.named_parameters(), *model.named_buffers()]
    seen: set[int] = set()
    out = []
    for name, tensor in named:
        if tensor.is_floating_point() and id(tensor) not in seen:
            seen.add(id(tensor))
            out.append((name, tensor))
    return out


def stamp(model: Any) -> Stamp:
    """Changes when a weight is replaced, changed in place, moved or cast."""
    return tuple((n, t.data_ptr(), t._version, t.dtype) for n, t in floating(model))


def narrower(to: torch.dtype, than: torch.dtype) -> bool:
    """Whether casting ``than`` -> ``to`` can lose bits (any change among half types)."""
    fewer = bool(torch.finfo(to).bits < torch.finfo(than).bits)
    return to != than and (fewer or to != torch.float32)


def pieces(model: Any) -> list[tuple[str, torch.nn.Module]]:
    """The model's children, lists of blocks one block at a time."""
    out: list[tuple[str, torch.nn.Module]] = []
    for name, child in model.named_children():
        if isinstance(child, torch.nn.ModuleList | torch.nn.Sequential):
            out += [(f"{name}.{i}", sub) for i, sub in enumerate(child)]
        else:
            out.append((name, child))
    return out


def move_steps(
    model: Any, device: torch.device, dtype: torch.dtype, kept: Kept | None
) -> Generator[Step, None, Kept | None]:
    """Move and cast ``model`` piece by piece; returns what is kept for casting back."""
    before_device, before_dtype = torch.device(weight_devices(model)[0]), weight_dtype(model)
    if kept is not None and kept.stamp != stamp(model):
        kept = None  # the weights changed since: what was kept is not them any more
    if kept is None and narrower(dtype, before_dtype):
        copies = {n: t.detach().to("cpu", copy=True) for n, t in floating(model)}
        kept = Kept(before_dtype, copies, ())
    todo = pieces(model)
    try:
        for done, (name, piece) in enumerate(todo):
            yield Step(done, len(todo) + 1, f"{name} to {device} {_short(dtype)}")
            cast(piece, device, dtype)
        yield Step(len(todo), len(todo) + 1, "the rest")
        cast(model, device, dtype)
        if kept is not None and kept.dtype == dtype:
            restore(model, kept)
            kept = None
    except BaseException:
        restorable = kept if kept is not None and kept.dtype == before_dtype else None
        put_back(model, before_device, before_dtype, restorable)
        raise
    set_config(model, device, dtype)
    if kept is not None:
        kept.stamp = stamp(model)
    return kept


def cast(module: Any, device: torch.device, dtype: torch.dtype) -> None:
    """``module`` to ``device``, its floating-point weights to ``dtype``; rotary frequencies
    stay float32, as Hugging Face keeps them when it loads a model in a half dtype (so a cast
    model computes what one loaded in that dtype does)."""
    torch.nn.Module.to(module, device=device)
    for name, tensor in [*module.named_parameters(), *module.named_buffers()]:
        if tensor.is_floating_point() and tensor.dtype != dtype and not name.endswith(FLOAT32):
            tensor.data = tensor.data.to(dtype)


def restore(model: Any, kept: Kept) -> None:
    for name, tensor in floating(model):
        source = kept.tensors.get(name)
        if source is not None and source.shape == tensor.shape:
            tensor.data = source.to(tensor.device, copy=True)


def put_back(model: Any, device: torch.device, dtype: torch.dtype, kept: Kept | None) -> None:
    """Every piece to ``device`` and ``dtype`` (the kept weights restored when given); a
    TranspectorError that says where the model is when even that fails."""
    try:
        cast(model, device, dtype)
        if kept is not None:
            restore(model, kept)
        set_config(model, device, dtype)
    except Exception as error:
        where = ", ".join(weight_devices(model))
        raise TranspectorError(
            f"could not put the model back on {device} as {_short(dtype)} ({error}); its "
            f"weights are now on {where}"
        ) from error
    finally:
        free_cuda_cache()


def set_config(model: Any, device: torch.device, dtype: torch.dtype) -> None:
    cfg = getattr(model, "cfg", None)
    if cfg is not None:
        cfg.device = str(device)
        cfg.dtype = dtype


def free_cuda_cache() -> None:
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def _short(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")
