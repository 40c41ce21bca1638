"""Lists every hook on the live model and removes the ones Transpector does not own."""

from __future__ import annotations

from typing import Any, Literal

from transpector.protocol.hooks import HookInfo


def list_hooks(model: Any) -> list[HookInfo]:
    rows = []
    for name, point in _points(model):
        for direction in ("fwd", "bwd"):
            for handle in _handles(point, direction):
                fn = handle.user_hook
                rows.append(
                    HookInfo(
                        hook_point=name,
                        function=_describe(fn),
                        direction=direction,
                        owned=bool(getattr(fn, "_transpector", False)),
                        permanent=bool(handle.is_permanent),
                    )
                )
    return rows


def remove_foreign_hooks(model: Any) -> int:
    """Remove every hook Transpector does not own, permanent ones included; returns how many."""
    removed = 0
    for _, point in _points(model):
        for direction in ("fwd", "bwd"):
            attr = "fwd_hooks" if direction == "fwd" else "bwd_hooks"
            kept = []
            for handle in _handles(point, direction):
                if getattr(handle.user_hook, "_transpector", False):
                    kept.append(handle)
                else:
                    handle.hook.remove()
                    removed += 1
            setattr(point, attr, kept)
    return removed


def _points(model: Any) -> list[tuple[str, Any]]:
    """Each hook point once, under its TransformerLens name when it has one (the bridge also
    lists every point under a generic alias such as blocks.0.hook_in for hook_resid_pre)."""
    names: dict[int, list[str]] = {}
    points: dict[int, Any] = {}
    for name, point in model.hook_dict.items():
        names.setdefault(id(point), []).append(name)
        points[id(point)] = point
    return [(_tl_name(names[key]), points[key]) for key in points]


def _tl_name(names: list[str]) -> str:
    generic = (".hook_in", ".hook_out")
    specific = [n for n in names if not n.endswith(generic) and n not in generic]
    return (specific or names)[0]


def _handles(point: Any, direction: Literal["fwd", "bwd"]) -> list[Any]:
    return list(point.fwd_hooks if direction == "fwd" else point.bwd_hooks)


def _describe(fn: Any) -> str:
    inner = getattr(fn, "func", fn)
    return str(getattr(inner, "__qualname__", None) or repr(inner))
