"""The session's device and dtype methods: ``session.placement``, ``session.move(...)``,
``session.record_memory()``, ``session.memory_snapshot()``.

A move is a new state version (op ``move_model``): every run cached for the old placement is
dropped with the source activations, and the adapter is built afresh, so the next run equals a
fresh computation. A bad target or a failed move leaves the version and the model as they were."""

from __future__ import annotations

import os
import pickle
from collections.abc import Generator
from pathlib import Path
from typing import Any

import torch

from transpector.errors import TranspectorError
from transpector.kernel.adapter import ModelAdapter
from transpector.kernel.placement import memory_html
from transpector.kernel.placement.moves import Kept, free_cuda_cache, move_steps, set_config
from transpector.kernel.placement.where import (
    check_device,
    check_dtype,
    placement_of,
    weight_devices,
    weight_dtype,
)
from transpector.kernel.run_context import RunContexts
from transpector.kernel.tool_calls import drive
from transpector.kernel.tools.base import Step
from transpector.protocol.placement import Placement
from transpector.protocol.state import SessionState

NEEDS_CUDA = "needs a CUDA device, and this kernel has none (torch.cuda.is_available() is False)"


class PlacementMethods:
    model: Any
    graph: Any
    _state: SessionState
    _adapter: ModelAdapter
    _contexts: RunContexts
    _sources: Any
    _deferred: Any
    _kept_weights: Kept | None = None
    _moving: str = ""  # "cpu float32 -> cuda:0 float32" while a move is under way

    def _change(self, op: str, detail: dict[str, Any], **fields: Any) -> None:
        raise NotImplementedError

    @property
    def placement(self) -> Placement:
        """Where the model's weights are (several devices when device_map sharded it), their
        dtype, and the devices and dtypes it can be moved to."""
        return placement_of(self.model)

    def move(self, device: str | None = None, dtype: str | None = None) -> Placement:
        """Move the model to ``device`` (``"cpu"``, ``"cuda"``, ``"cuda:1"``) and/or cast it to
        ``dtype`` (``"float32"``, ``"float16"``, ``"bfloat16"``), with a progress bar. Out of
        memory, the model goes back where it was and the error says so."""
        return drive(self.move_steps(device, dtype))

    def move_steps(self, device: str | None, dtype: str | None) -> Generator[Step, None, Placement]:
        """The move in steps (the canvas's task drives these): checked before anything moves."""
        self._check_no_move()
        target = check_device(device) if device is not None else None
        cast = check_dtype(dtype) if dtype is not None else weight_dtype(self.model)
        here = weight_devices(self.model)
        if target is not None and len(here) > 1:
            raise TranspectorError(
                f"the model is sharded over {', '.join(here)} (device_map); it cannot be moved to "
                "one device: load it again with device=... instead"
            )
        to = target if target is not None else torch.device(here[0])
        before = placement_of(self.model)
        if [str(to)] == here and cast == weight_dtype(self.model):
            return before  # already there: no new version, nothing dropped
        self._moving = f"{before.device} {before.dtype} -> {to} {str(cast)[6:]}"
        try:
            self._kept_weights = yield from move_steps(self.model, to, cast, self._kept_weights)
        except torch.OutOfMemoryError as error:
            raise TranspectorError(
                f"out of memory moving the model to {to} as {str(cast)[6:]}: "
                f"{_first_line(error)}; it is back on {before.device} as {before.dtype}"
            ) from None
        finally:
            self._moving = ""
            self._reset_model_caches()
        after = placement_of(self.model)
        detail = {"device": after.device, "dtype": after.dtype}
        self._change("move_model", detail, placement=after)
        return after

    def _place(self) -> None:
        """The state's placement from the live model (a restored state file's is not it)."""
        self._state = self._state.model_copy(update={"placement": placement_of(self.model)})

    def _check_no_move(self) -> None:
        """Nothing runs on the model, and no other move starts, while a move is under way."""
        if self._moving:
            raise TranspectorError(
                f"the model is being moved ({self._moving}); try again when the move is done"
            )

    def _check_not_moving(self) -> None:
        """Before the model runs: not while a move is under way, and a move a cell made itself
        (``model.to(...)``) is followed like one of ours."""
        self._check_no_move()
        first = next(iter(self.model.parameters()), None)
        shown = self._state.placement
        if first is None or (_device_name(first.device), _dtype_name(first.dtype)) == (
            shown.devices[0],
            shown.dtype,
        ):
            return
        self._reset_model_caches()
        after = placement_of(self.model)
        set_config(self.model, torch.device(after.device), weight_dtype(self.model))
        detail = {"device": after.device, "dtype": after.dtype, "outside": True}
        self._change("move_model", detail, placement=after)

    def _reset_model_caches(self) -> None:
        """After a move or cast: runs, source activations and adapter caches start afresh;
        steering vectors and autoencoders follow the model to its device."""
        self._adapter = ModelAdapter(self.model)
        self._contexts = RunContexts(self._adapter, self.graph)
        self._contexts.more_key = self._sources.vector_key
        self._sources.adapter = self._adapter
        self._sources.edits.adapter = self._adapter  # knowledge edits follow, as vectors do
        self._sources.cache.clear()
        self._deferred = None
        device = self._adapter.model.W_E.device
        for name, vector in list(self._sources.vectors.items()):
            if isinstance(vector, torch.Tensor):
                self._sources.vectors[name] = vector.to(device)
        for sae in self._sources.saes.values():
            sae.to(device)

    # ---- CUDA memory ---------------------------------------------------------------------------
    def record_memory(self, enabled: bool = True, max_entries: int = 100_000) -> None:
        """Record CUDA allocation history (with Python stacks) from now on, for
        ``memory_snapshot``; ``enabled=False`` stops recording."""
        if not torch.cuda.is_available():
            raise TranspectorError(f"recording CUDA memory {NEEDS_CUDA}")
        torch.cuda.memory._record_memory_history(
            "all" if enabled else None, max_entries=max_entries
        )

    def memory_snapshot(self, path: str | os.PathLike[str] | None = None) -> dict[str, Any]:
        """CUDA memory now (segments, blocks, and the recorded history). With ``path``, also
        written there: ``.html`` as the offline memory view, else as torch's pickle (what
        torch's memory viz page reads)."""
        if not torch.cuda.is_available():
            raise TranspectorError(f"a CUDA memory snapshot {NEEDS_CUDA}")
        snapshot: dict[str, Any] = torch.cuda.memory._snapshot()
        if path is not None:
            target = Path(path)
            if target.suffix == ".html":
                target.write_text(memory_html.render(snapshot), encoding="utf-8")
            else:
                target.write_bytes(pickle.dumps(snapshot))
        return snapshot

    def memory_html(self) -> str:
        """The memory snapshot as one self-contained HTML page (nothing fetched)."""
        return memory_html.render(self.memory_snapshot(), title=str(self._state.model_name))


def out_of_memory(error: BaseException, model: Any) -> TranspectorError:
    """The one message for an out-of-memory run: the session and its model stay as they were."""
    free_cuda_cache()
    where = ", ".join(weight_devices(model))
    return TranspectorError(
        f"out of memory on {where}: {_first_line(error)}; nothing was kept from this run and "
        "the model is unchanged: try a shorter prompt, fewer prompts, or a smaller dtype"
    )


def _device_name(device: torch.device) -> str:
    return "cuda:0" if device.type == "cuda" and device.index is None else str(device)


def _dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


def _first_line(error: BaseException) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0]
