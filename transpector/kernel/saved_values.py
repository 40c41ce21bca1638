"""The values a saved run is made of, checked: every name known, every shape the model's, one
prompt's worth (batch 1, or no batch dimension), all of one length. The first problem found is
the one error raised; nothing is read before all of it passed."""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import torch

from transpector.errors import TranspectorError
from transpector.protocol.graph import GraphSpec

PATTERN = re.compile(r"^blocks\.(\d+)\.attn\.hook_pattern$")
RESID_NODE = re.compile(r"^L\d+\.resid_(pre|mid|post)$")


@dataclass
class Values:
    tokens: torch.Tensor  # [pos] token ids
    logits: torch.Tensor | None = None  # [pos, d_vocab]
    resids: dict[str, torch.Tensor] = field(default_factory=dict)  # node id -> [pos, d_model]
    patterns: dict[int, torch.Tensor] = field(default_factory=dict)  # layer -> [head, q, k]
    names: list[str] = field(default_factory=list)
    not_shown: list[str] = field(default_factory=list)


def check_values(
    saved: Mapping[str, Any], graph: GraphSpec, hooks: set[str], given: torch.Tensor | None
) -> Values:
    """``saved`` as a saved run of ``graph``'s model; ``given`` the prompt's ids [pos], if any."""
    if not isinstance(saved, Mapping) or not saved:
        raise TranspectorError(
            "show_saved takes the saved values by name (e.g. saved = tr.save_for_canvas() "
            f"inside the trace), not {type(saved).__name__ if saved is not None else 'None'}"
            + (" with nothing in it" if isinstance(saved, Mapping) else "")
        )
    resid_of = {n.hooks["out"]: n.id for n in graph.nodes if RESID_NODE.match(n.id)}
    for name in saved:
        if not isinstance(name, str) or (name not in ("tokens", "logits") and name not in hooks):
            near = difflib.get_close_matches(str(name), sorted(hooks), n=3)
            hint = f"; did you mean {', '.join(near)}?" if near else ""
            raise TranspectorError(
                f"{name!r} is not a hook point of this model, nor 'tokens' or 'logits' "
                f"({graph.n_layers} layers){hint}"
            )
        if not isinstance(saved[name], torch.Tensor):
            raise TranspectorError(
                f"{name}: a saved value is a tensor, not {type(saved[name]).__name__}"
            )
    tokens = _tokens(saved, graph, given)
    n = len(tokens)
    values = Values(tokens=tokens, names=list(saved))
    if "logits" in saved:
        values.logits = _one_prompt(saved, "logits", [n, graph.d_vocab])
    for name in saved:
        found = PATTERN.match(name)
        if name in resid_of:
            values.resids[resid_of[name]] = _one_prompt(saved, name, [n, graph.d_model])
        elif found:
            layer = int(found.group(1))
            values.patterns[layer] = _one_prompt(saved, name, [graph.n_heads, n, n])
        elif name not in ("tokens", "logits"):
            values.not_shown.append(name)
    if values.logits is None and not values.resids and not values.patterns:
        raise TranspectorError(
            "nothing to show: save the logits, a residual (blocks.L.hook_resid_pre) or an "
            "attention pattern (blocks.L.attn.hook_pattern); tr.save_for_canvas() saves them all"
        )
    return values


def _tokens(saved: Mapping[str, Any], graph: GraphSpec, given: torch.Tensor | None) -> torch.Tensor:
    if "tokens" not in saved:
        if given is None:
            raise TranspectorError(
                "no tokens: save them as 'tokens' (tr.save_for_canvas() does), or pass prompt="
            )
        return given.cpu()
    ids = saved["tokens"]
    if ids.is_floating_point() or ids.ndim not in (1, 2) or (ids.ndim == 2 and ids.shape[0] != 1):
        raise TranspectorError(
            f"tokens: token ids [1, pos] or [pos], not {ids.dtype} {list(ids.shape)}"
        )
    ids = ids.reshape(-1).cpu().long()
    if not 0 < len(ids) <= graph.n_ctx or ids.min() < 0 or ids.max() >= graph.d_vocab:
        raise TranspectorError(
            f"tokens: 1 to {graph.n_ctx} ids below {graph.d_vocab} (this model's), not "
            f"{len(ids)} ids from {int(ids.min()) if len(ids) else '-'}"
        )
    if given is not None and not torch.equal(given.cpu(), ids):
        raise TranspectorError("tokens: the saved tokens are not those of prompt=")
    return ids


def _one_prompt(saved: Mapping[str, Any], name: str, shape: list[int]) -> torch.Tensor:
    """``saved[name]`` as ``shape``: [1, *shape] loses its batch dimension; anything else is
    refused with what was expected."""
    value: torch.Tensor = saved[name]
    if value.ndim == len(shape) + 1 and value.shape[0] == 1:
        value = value[0]
    if list(value.shape) != shape or not value.is_floating_point():
        raise TranspectorError(
            f"{name}: expected one prompt's values, float [1, {', '.join(map(str, shape))}] "
            f"(pos = the {shape[1] if PATTERN.match(name) else shape[0]} tokens), not "
            f"{value.dtype} {list(saved[name].shape)}"
        )
    return value.detach()
