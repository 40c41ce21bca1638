"""session.code(): the current state as Python with plain TransformerLens hooks.

The helpers are hook_runtime' own source, so exported code and the canvas share one
implementation; each intervention becomes the same steps the runner applies.
"""

from __future__ import annotations

import ast
import inspect
from collections.abc import Callable, Mapping
from types import ModuleType
from typing import Any

from transpector.errors import TranspectorError
from transpector.kernel import hook_runtime
from transpector.kernel.interventions import Step, plan
from transpector.kernel.sae import splice
from transpector.protocol.graph import GraphSpec
from transpector.protocol.interventions import NamedVector, Steer
from transpector.protocol.state import SessionState


def render(
    state: SessionState,
    graph: GraphSpec,
    vectors: Mapping[str, Any] | None = None,
    saes: Mapping[str, Any] | None = None,
    edits: Callable[[Step], Any] | None = None,
) -> str:
    """``vectors``: the session's named steering vectors, written out as tensors; ``saes``: its
    autoencoders by hook, loaded from their folders; ``edits``: the rank-one edit of a knowledge
    edit's step, written out as tensors."""
    lines = [
        f"# Transpector session, state version {state.version}, model {graph.model_name}.",
        "# Plain TransformerLens hooks; run with `model` bound to the live model. Leaves the",
        "# intervened logits [pos, d_vocab] of the prompt in `logits`.",
        helpers_of(hook_runtime),
        "",
        f"prompt = {state.prompts[state.active]!r}",
        f"reference_prompts = {state.reference_prompts!r}",
        "tokens = model.to_tokens(prompt)",
        "n_pos = tokens.shape[1]",
        "fwd_hooks = []",
        *vector_lines(state, vectors or {}),
        *splice.sae_lines(latent_hooks(state, graph), saes or {}),
    ]
    for spec in state.interventions:
        where = "all positions" if spec.positions is None else f"positions {spec.positions}"
        lines.append(f"\n# {spec.kind} {spec.node} ({where}; id {spec.id})")
        for step in plan(spec, graph):
            if step.recipe == "latent":
                lines.append(splice.latent_code(step))
                continue
            if step.recipe == "edit":
                assert edits is not None
                lines += edit_lines(step, edits(step))
                continue
            index = f"index_of({step.positions!r}, {step.feature!r})"
            value = value_code(step)
            lines.append(
                f"fwd_hooks.append(({step.hook!r}, functools.partial({write_of(step)}, "
                f"index={index}, value={value})))"
            )
    lines += [
        "",
        "with torch.inference_mode(), model.hooks(fwd_hooks=fwd_hooks):",
        "    logits = model(tokens)[0]",
        "",
    ]
    return "\n".join(lines)


def latent_hooks(state: SessionState, graph: GraphSpec) -> list[str]:
    return [
        step.hook
        for spec in state.interventions
        for step in plan(spec, graph)
        if step.recipe == "latent"
    ]


def edit_lines(step: Step, edit: Any) -> list[str]:
    """A knowledge edit's hooks, its two vectors written out (float32 prints exactly)."""
    return [
        f"edit_left = torch.tensor({edit.left.tolist()!r})  # [d_mlp]",
        f"edit_right = torch.tensor({edit.right.tolist()!r})  # [d_model]",
        f"fwd_hooks += rank_one_hooks({step.source_hook!r}, {step.hook!r}, edit_left, edit_right)",
    ]


def value_code(step: Step) -> str:
    """The Python expression of the value ``step`` writes (``model``, ``reference_prompts`` and
    ``n_pos`` in scope)."""
    if step.recipe == "zero":
        return "0.0"
    if step.recipe == "mean_diff":
        positive = f"capture(model, {list(step.positive)!r}, [{step.hook!r}])[{step.hook!r}]"
        negative = f"capture(model, {list(step.negative)!r}, [{step.hook!r}])[{step.hook!r}]"
        return f"{step.scale!r} * mean_diff_value({positive}, {negative}, {step.feature!r})"
    if step.recipe == "neuron":
        layer, index = step.neuron
        return f"{step.scale!r} * model.W_out[{layer}][{index}].detach()"
    if step.recipe == "tensor":
        return f"{step.scale!r} * vectors[{step.vector!r}]"
    acts = f"capture(model, reference_prompts, [{step.hook!r}])[{step.hook!r}]"
    if step.recipe == "mean":
        return f"mean_value({acts}, {step.feature!r})"
    if step.recipe == "resample":
        return f"resample_value({acts}, {step.feature!r}, {step.positions!r}, n_pos, {step.seed})"
    acts = (
        f"capture(model, [{step.source_prompt!r}], [{step.source_hook!r}])[{step.source_hook!r}][0]"
    )
    return f"source_value({acts}, {step.source_feature!r}, {step.positions!r})"


def write_of(step: Step) -> str:
    """The hook_runtime function a step's hook calls: steering adds, the rest set."""
    return "add_value" if step.adds else "set_value"


def vector_lines(state: SessionState, vectors: Mapping[str, Any]) -> list[str]:
    """``vectors = {...}``: each named tensor a steering spec uses, its values written out
    (float32 values print exactly as Python floats)."""
    names = sorted(
        {
            spec.source.name
            for spec in state.interventions
            if isinstance(spec, Steer) and isinstance(spec.source, NamedVector)
        }
    )
    if not names:
        return []
    lines = ["vectors = {}  # steering vectors from cells, by name"]
    for name in names:
        if name not in vectors:
            raise TranspectorError(f"no vector named {name!r}: set it with session.set_vector")
        tensor = vectors[name]
        lines.append(
            f"vectors[{name!r}] = torch.tensor({tensor.detach().cpu().tolist()!r}, "
            f"dtype={tensor.dtype}).to(next(model.parameters()).device)"
        )
    return lines


def helpers_of(module: ModuleType) -> str:
    """A module's source without its docstring and __future__ import (hook_runtime's here)."""
    source = inspect.getsource(module)
    tree = ast.parse(source)
    body = [node for node in tree.body if not _is_docstring(node) and not _is_future(node)]
    lines = source.splitlines()
    return "\n".join(lines[body[0].lineno - 1 :])


def _is_docstring(node: ast.stmt) -> bool:
    return isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)


def _is_future(node: ast.stmt) -> bool:
    return isinstance(node, ast.ImportFrom) and node.module == "__future__"
