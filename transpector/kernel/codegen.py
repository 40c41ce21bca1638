"""session.code(): the current state as Python with plain TransformerLens hooks.

The helpers are hook_runtime' own source, so exported code and the canvas share one
implementation; each intervention becomes the same steps the runner applies.
"""

from __future__ import annotations

import ast
import inspect
from types import ModuleType

from transpector.kernel import hook_runtime
from transpector.kernel.interventions import Step, plan
from transpector.protocol.graph import GraphSpec
from transpector.protocol.state import SessionState


def render(state: SessionState, graph: GraphSpec) -> str:
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
    ]
    for spec in state.interventions:
        where = "all positions" if spec.positions is None else f"positions {spec.positions}"
        lines.append(f"\n# {spec.kind} {spec.node} ({where}; id {spec.id})")
        for step in plan(spec, graph):
            index = f"index_of({step.positions!r}, {step.feature!r})"
            value = value_code(step)
            lines.append(
                f"fwd_hooks.append(({step.hook!r}, functools.partial(set_value, "
                f"index={index}, value={value})))"
            )
    lines += [
        "",
        "with torch.inference_mode(), model.hooks(fwd_hooks=fwd_hooks):",
        "    logits = model(tokens)[0]",
        "",
    ]
    return "\n".join(lines)


def value_code(step: Step) -> str:
    """The Python expression of the value ``step`` writes (``model``, ``reference_prompts`` and
    ``n_pos`` in scope)."""
    if step.recipe == "zero":
        return "0.0"
    acts = f"capture(model, reference_prompts, [{step.hook!r}])[{step.hook!r}]"
    if step.recipe == "mean":
        return f"mean_value({acts}, {step.feature!r})"
    if step.recipe == "resample":
        return f"resample_value({acts}, {step.feature!r}, {step.positions!r}, n_pos, {step.seed})"
    acts = (
        f"capture(model, [{step.source_prompt!r}], [{step.source_hook!r}])[{step.source_hook!r}][0]"
    )
    return f"source_value({acts}, {step.source_feature!r}, {step.positions!r})"


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
