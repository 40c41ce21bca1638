"""The tracer ``session.trace`` returns: nnsight's own ``InterleavingTracer`` (invoke, iter,
barrier, result, stop, cache all as nnsight has them), plus hook points by TransformerLens name
(``tr.hook``), modules by path (``tr.module``) and token positions that count from the end
(``tr.t``), right under left padding. The session sets the run up around nnsight's execution
(its interventions as temporary hooks) and takes it down on every exit."""

from __future__ import annotations

import re
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from types import CodeType
from typing import Any

import nnsight
from nnsight.intervention.interleaver import Mediator, OutOfOrderError
from nnsight.intervention.tracer import InterleavingTracer

from transpector.errors import TranspectorError
from transpector.kernel.adapter.deferred import BridgePoints
from transpector.kernel.adapter.nnsight_runtime import as_raw, as_tl, envoy_at

Around = Callable[[], AbstractContextManager[Any]]


class SessionTracer(InterleavingTracer):  # type: ignore[misc]
    points: BridgePoints
    around: Around | None = None

    def execute(self, code: CodeType) -> None:
        try:
            with self.around() if self.around is not None else nullcontext():
                InterleavingTracer.execute(self, code)  # by value: no super() cell
        except OutOfOrderError as error:
            raise TranspectorError(self._out_of_order(str(error))) from None

    def _out_of_order(self, message: str) -> str:
        """nnsight's out-of-order message with hook points named as in TransformerLens."""
        found = re.search(r"'model\.(.+)\.(output|inputs?)\.i(\d+)'", message)
        if found is None:
            return f"{message}: read values in the order the model makes them"
        path, what, step = found.groups()
        names = self.points.names_at(path) or [path]
        where = f"{names[0]}.{what}" + (f" (step {step})" if step != "0" else "")
        return (
            f"{where} was read after the model had run past it: inside a trace, read and "
            "write values in the order the forward makes them (an earlier layer first), or "
            "read it in its own invoke"
        )

    def __getstate__(self) -> dict[str, Any]:
        """A request carries nnsight's tracer state and the hook point names (``tr.hook`` runs on
        the far side too), not the session's run set-up."""
        state: dict[str, Any] = super().__getstate__()
        state.pop("around", None)
        return state

    @property
    def model(self) -> Any:
        """The nnsight envoy of the model: ``tr.model.blocks[0].attn.output``, ``.input``."""
        return self.envoy

    def hook(self, name: str) -> HookRef:
        """The TransformerLens hook point ``name``: ``.output`` / ``.input`` in TransformerLens
        layout (``blocks.L.attn.hook_z`` is [batch, pos, n_heads, d_head]), ``.head(h)``,
        ``.t(i)``, and ``.envoy`` for the module value as nnsight sees it."""
        point = self.points.point(name)
        return HookRef(self, name, point, envoy_at(self.envoy, self.points.path_of(name)))

    def module(self, path: str) -> Any:
        """The nnsight envoy of the module at dotted ``path`` (e.g. ``blocks.0.attn``)."""
        return envoy_at(self.envoy, self.points.module_path(path))

    def save_for_canvas(self, attention: bool = True) -> dict[str, Any]:
        """Save what the canvas's Saved run card shows, by name: the tokens, every layer's
        ``hook_resid_pre`` and (``attention=True``) ``attn.hook_pattern``, the last
        ``hook_resid_post`` and the logits. Call it last in the block (values are read in
        forward order) and keep what it returns: ``saved = tr.save_for_canvas()``, then
        ``session.show_saved(saved)`` after the block. Runs on the far side with ``remote``."""
        n_layers = int(self.points.model.cfg.n_layers)
        saved: dict[str, Any] = {"tokens": self.model.input}
        for layer in range(n_layers):
            names = [f"blocks.{layer}.hook_resid_pre", f"blocks.{layer}.attn.hook_pattern"]
            for name in names if attention else names[:1]:
                saved[name] = self.hook(name).output
        last = f"blocks.{n_layers - 1}.hook_resid_post"
        saved[last] = self.hook(last).output
        saved["logits"] = self.model.output
        return nnsight.save(saved)  # type: ignore[no-any-return]

    def t(self, i: int) -> int:
        """Position ``i`` of the current invoke's tokens as an index counted from the end, so it
        is right under left padding: ``t(-1)`` is the last token of every prompt, ``t(0)`` the
        first (BOS) of this invoke's prompt. Use inside an invoke: ``x[:, tr.t(-1)]``."""
        if isinstance(i, bool) or not isinstance(i, int):
            raise TranspectorError(f"t() takes a token index, not {i!r}")
        if i < 0:
            return i
        lengths = self.envoy._run.lengths
        group = Mediator.current("t()").batch_group
        start, size = (0, len(lengths)) if group is None else group
        mine = set(lengths[start : start + size])
        if len(mine) != 1:
            raise TranspectorError(
                "t(i) with i >= 0 needs one prompt length in the invoke; these rows have "
                f"{sorted(mine)} tokens: use a negative index (from the end) or one invoke each"
            )
        n = int(next(iter(mine)))
        if i >= n:
            raise TranspectorError(f"no token {i}: this invoke's prompt has {n} tokens")
        return i - n


class HookRef:
    """One TransformerLens hook point inside a trace."""

    def __init__(self, tracer: SessionTracer, name: str, point: Any, envoy: Any) -> None:
        self.tracer = tracer
        self.name = name
        self.point = point
        self.envoy = envoy

    @property
    def output(self) -> Any:
        """The value at this hook point, in TransformerLens layout (writes into it reach the
        model where the layout is a view, as for attention heads)."""
        return as_tl(self.point, self.envoy.output)

    @output.setter
    def output(self, value: Any) -> None:
        self.envoy.output = as_raw(self.point, value, self.envoy.output)

    @property
    def input(self) -> Any:
        """The value entering the hook point (the same as its output: hook points pass it on)."""
        return as_tl(self.point, self.envoy.input)

    def head(self, h: int) -> Any:
        """Head ``h`` of a per-head hook (hook_z, hook_q, ...): ``output[:, :, h]``."""
        act = self.output
        if act.ndim != 4:
            raise TranspectorError(
                f"{self.name} is {list(act.shape)}, not [batch, pos, head, d_head]: it has no heads"
            )
        return act[:, :, h]

    def save(self) -> Any:
        raise TranspectorError(
            f"hook('{self.name}').save() saves nothing: save its value, "
            f"hook('{self.name}').output.save()"
        )

    def t(self, i: int) -> Any:
        """``output[:, tr.t(i)]``: token ``i`` counted so it is right under left padding."""
        return self.output[:, self.tracer.t(i)]
