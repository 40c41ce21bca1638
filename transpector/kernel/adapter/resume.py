"""Resumed forwards (DESIGN "Speed"): an intervention at layer L changes nothing before block L,
so a re-run starts from the clean run's input of block L instead of running blocks 0..L-1 again.

A block needs, besides its residual input, what the model's forward computed once for every
block: the attention mask, position ids, rotary (cos, sin) tables. They depend on the tokens'
count and padding, never on activations, so one capture serves every re-run of the same tokens.
Part of the adapter: it reaches into the bridge's blocks.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import re
import weakref
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import torch

# A KV cache is per forward: resumed blocks must not read or extend the captured run's one.
CACHE_KWARGS = ("cache", "past_key_values", "past_key_value", "layer_past")
BLOCK_HOOK = re.compile(r"^blocks\.([0-9]+)\.")
FINAL_HOOK = re.compile(r"^(ln_final\.|unembed\.|hook_unembed$)")
_checked: weakref.WeakKeyDictionary[Any, str | None] = weakref.WeakKeyDictionary()


@dataclass
class BlockKwargs:
    """What one forward passed each block besides its residual, by layer (layers may differ,
    e.g. sliding-window masks), for a prompt of ``n_pos`` tokens."""

    by_layer: dict[int, dict[str, Any]] = field(default_factory=dict)
    n_pos: int = 0


def _record(
    block: Any, args: tuple[Any, ...], kwargs: dict[str, Any], *, into: BlockKwargs, layer: int
) -> None:
    """Pre-hook: names the block's arguments after its wrapped module's signature (GPT-2 passes
    its cache and mask positionally), keeps all but the residual and the cache."""
    names = _parameter_names(block.original_component.forward)
    bound = dict(zip(names, args, strict=False)) | kwargs
    residual = bound.pop(names[0])
    for name in CACHE_KWARGS:
        bound.pop(name, None)
    if "use_cache" in bound:
        bound["use_cache"] = False
    into.by_layer[layer], into.n_pos = bound, int(residual.shape[1])


@functools.lru_cache(maxsize=256)
def _parameter_names(forward: Callable[..., Any]) -> list[str]:
    return list(inspect.signature(forward).parameters)


@contextlib.contextmanager
def capture_block_kwargs(model: Any) -> Iterator[BlockKwargs]:
    """Inside it, one forward fills the BlockKwargs it yields; its hooks go on every exit."""
    found = BlockKwargs()
    handles = []
    try:
        for layer, block in enumerate(model.blocks):
            fn = partial(_record, into=found, layer=layer)
            handles.append(block.register_forward_pre_hook(fn, with_kwargs=True))
        yield found
    finally:
        for handle in handles:
            handle.remove()


def hook_layer(name: str, n_layers: int) -> int | None:
    """The block a hook fires in (``n_layers`` for ln_final and unembed); None before block 0."""
    block = BLOCK_HOOK.match(name)
    if block:
        return int(block.group(1))
    return n_layers if FINAL_HOOK.match(name) else None


def resume_forward(
    model: Any,
    resid_pre: torch.Tensor,
    kwargs: BlockKwargs,
    layer: int,
    hooks: Sequence[tuple[str, Callable[..., Any]]],
) -> torch.Tensor:
    """Logits [1, pos, d_vocab] of blocks ``layer``.. , ln_final and unembed run on
    ``resid_pre`` (block ``layer``'s clean input) with ``hooks``, which fire as in a full
    forward (``blocks.{layer}.hook_resid_pre`` included). A ValueError for a hook that could
    not fire (before block ``layer``) or kwargs of another prompt length."""
    n_layers = len(model.blocks)
    at = {name: hook_layer(name, n_layers) if isinstance(name, str) else None for name, _ in hooks}
    early = [name for name, where in at.items() if where is None or where < layer]
    if early:
        raise ValueError(f"hooks {early} fire before block {layer}: run a full forward")
    if resid_pre.shape[1] != kwargs.n_pos or set(kwargs.by_layer) != set(range(n_layers)):
        raise ValueError(f"block kwargs are for {kwargs.n_pos} tokens, not {resid_pre.shape[1]}")
    x = resid_pre
    with torch.inference_mode(), model.hooks(fwd_hooks=list(hooks)):
        for i in range(layer, n_layers):
            out = model.blocks[i](x, **kwargs.by_layer[i])
            x = out[0] if isinstance(out, tuple) else out
        return model.unembed(model.ln_final(x))


def can_resume(model: Any) -> str | None:
    """None when resumed forwards equal full ones on this model, else why not. Checked once per
    model: resuming at block 0 must give a full forward's logits, which catches work a model
    does outside its blocks (logit soft-caps, scaling, layer-dependent inputs)."""
    if model not in _checked:
        _checked[model] = _problem(model)
    return _checked[model]


def _problem(model: Any) -> str | None:
    if not all(hasattr(model, name) for name in ("blocks", "ln_final", "unembed")):
        return "the model has no blocks, ln_final and unembed to resume through"
    if any(getattr(b, "original_component", None) is None for b in model.blocks):
        return "a block wraps no module whose arguments can be captured"
    if getattr(model.cfg, "output_logits_soft_cap", -1.0) > 0:
        return "the model soft-caps its logits after unembed, outside ln_final and unembed"
    tokens = torch.arange(4, device=model.cfg.device)[None] % model.cfg.d_vocab
    resid: list[torch.Tensor] = []
    keep = [("blocks.0.hook_resid_pre", lambda act, hook: resid.append(act))]
    try:
        with (
            torch.inference_mode(),
            capture_block_kwargs(model) as kwargs,
            model.hooks(fwd_hooks=keep),
        ):
            full = model(tokens)
        resumed = resume_forward(model, resid[0], kwargs, 0, [])
    except (RuntimeError, TypeError, ValueError, KeyError) as error:
        return f"resuming failed: {error!r}"
    diff = float((resumed - full).abs().max())
    if diff > 1e-6 * (1 + float(full.abs().max())):
        return f"resumed logits differ from a full forward's by {diff:.2g}"
    return None
