"""Plain helpers between nnsight and a TransformerLens bridge's hook points.

nnsight sees a hook point's module value, which is not always the layout TransformerLens hook
functions (and ``run_with_cache``) see: the bridge's ``blocks.L.attn.hook_z`` is
``[batch, pos, n_heads * d_head]`` to nnsight and ``[batch, pos, n_heads, d_head]`` to
TransformerLens, converted by the hook point's ``hook_conversion``. These helpers give the
TransformerLens layout, so ``[:, :, 3]`` is head 3 as in a TransformerLens hook.

``session.code(style="nnsight")`` copies this module's source into the Python it writes, so the
session's traces and the exported code share one implementation. Only torch, nnsight and a
TransformerLens bridge are needed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def module_paths(model: Any) -> dict[int, str]:
    """Each module's dotted path in ``model``, by ``id`` (the first path of a shared module)."""
    return {id(module): path for path, module in model.named_modules() if path}


def envoy_at(traced: Any, path: str) -> Any:
    """The nnsight envoy of the module at dotted ``path`` under the wrapped model ``traced``."""
    envoy = traced
    for part in path.split("."):
        envoy = getattr(envoy, part)
    return envoy


def hook_envoy(traced: Any, model: Any, name: str, paths: dict[int, str]) -> Any:
    """The nnsight envoy of the TransformerLens hook point ``name`` (e.g. blocks.0.attn.hook_z)."""
    return envoy_at(traced, paths[id(model.hook_dict[name])])


def as_tl(point: Any, raw: Any) -> Any:
    """A hook point's module value in TransformerLens layout: a view where the conversion is a
    reshape or transpose (attention heads), so writes into it reach the model."""
    conversion = getattr(point, "hook_conversion", None)
    if conversion is None:
        return raw
    converted = conversion.convert(raw)
    shares = converted.data_ptr() == raw.data_ptr() and converted._base is not None
    if not shares and converted.shape == raw.shape:
        return raw  # a copy in the same layout: the module value itself takes writes
    return converted


def as_raw(point: Any, act: Any, raw: Any) -> Any:
    """``act`` (TransformerLens layout) in the layout of the hook point's module value ``raw``."""
    if as_tl(point, raw) is raw:
        return act
    return point.hook_conversion.revert(act)


def edited(point: Any, raw: Any, edits: Sequence[tuple[tuple[Any, ...], Any]]) -> Any:
    """``raw`` with each ``act[index] = value`` of ``edits`` written in TransformerLens layout, as
    a new tensor in the module's layout (the forward goes on with it)."""
    act = as_tl(point, raw).clone()
    for index, value in edits:
        act[index] = value
    return as_raw(point, act, raw)
