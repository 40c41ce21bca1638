"""Gradients of a scalar of the logits with respect to activations: one forward with the hooks'
activations kept in the autograd graph, then one backward to those activations only.

Part of the adapter (it runs the bridge's forward with hooks). Gradients are taken with
``torch.autograd.grad`` on the activations themselves, so nothing accumulates in any ``.grad``,
parameters keep their ``requires_grad``, and the hooks go on every exit. The forward runs with
autograd on (``torch.inference_mode(False)``, ``torch.enable_grad()``) whatever mode the caller
is in. When no parameter requires a gradient, nothing before an activation is recorded: the
first kept activation on each path becomes a leaf of the graph, with the same value, so
everything after it is recorded and its gradient is the same.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import torch

from transpector.kernel.adapter import ModelAdapter, mark_owned


@dataclass(frozen=True)
class Gradients:
    """A forward's logits [pos, d_vocab], the value of the objective, and for each hook its
    activation and d objective / d activation, both [pos, ...] and detached."""

    logits: torch.Tensor
    value: float
    acts: dict[str, torch.Tensor]
    grads: dict[str, torch.Tensor]


def activation_gradients(
    adapter: ModelAdapter,
    tokens: torch.Tensor,
    hooks: Sequence[str],
    objective: Callable[[torch.Tensor], torch.Tensor],
) -> Gradients:
    """One forward of ``tokens`` [1, pos] without interventions and one backward of
    ``objective(logits)`` (logits [pos, d_vocab] -> a scalar tensor) to the activations of
    ``hooks``. An activation the objective does not depend on has a zero gradient."""
    names = list(dict.fromkeys(hooks))
    kept: dict[str, torch.Tensor] = {}
    keepers = [(name, mark_owned(partial(keep_recorded, kept=kept, name=name))) for name in names]
    model = adapter.model
    with torch.inference_mode(False), torch.enable_grad():
        ids = tokens.clone()  # a normal tensor: an inference-mode one cannot be saved for backward
        with model.hooks(fwd_hooks=keepers):
            logits: torch.Tensor = model(ids)[0]
        missing = [name for name in names if name not in kept]
        if missing:
            raise ValueError(f"hooks {missing} did not fire in the forward")
        value = objective(logits)
        inputs = [kept[name] for name in names]
        found = torch.autograd.grad(value, inputs, allow_unused=True)
    grads = {
        name: (torch.zeros_like(act) if grad is None else grad)[0].detach()
        for name, act, grad in zip(names, inputs, found, strict=True)
    }
    acts = {name: kept[name][0].detach() for name in names}
    return Gradients(logits.detach(), float(value.detach()), acts, grads)


def keep_recorded(
    act: torch.Tensor, hook: Any, *, kept: dict[str, torch.Tensor], name: str
) -> torch.Tensor:
    """Hook: the activation, kept; a leaf with its value when nothing before it is recorded."""
    if not act.requires_grad:
        act = act.detach().requires_grad_(True)
    kept[name] = act
    return act
