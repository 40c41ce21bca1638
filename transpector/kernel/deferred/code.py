"""session.code(style="nnsight"): the current state as an nnsight trace over the live model.

The same steps as the TransformerLens style (``interventions.plan``), with the same values
(``codegen.value_code``, from ``hook_runtime``), written into each hook point's value inside
``NNsight(model).trace(...)``. The helpers are ``hook_runtime``'s and ``nnsight_runtime``'s own
source. Hook points are visited in the order the forward makes them, as nnsight requires.
"""

from __future__ import annotations

from collections.abc import Mapping

from transpector.errors import TranspectorError
from transpector.kernel import hook_runtime
from transpector.kernel.adapter import nnsight_runtime
from transpector.kernel.codegen import helpers_of, value_code
from transpector.kernel.interventions import plan
from transpector.protocol.graph import GraphSpec
from transpector.protocol.state import SessionState


def render(state: SessionState, graph: GraphSpec, order: Mapping[str, int]) -> str:
    """Python that reproduces ``state`` with nnsight; ``order`` ranks hook names by when the
    forward makes them."""
    lines = [
        f"# Transpector session, state version {state.version}, model {graph.model_name}.",
        "# nnsight over the TransformerLens bridge; run with `model` bound to the live model, in a",
        "# notebook cell or a file (nnsight reads the `with` block's source). Leaves the",
        "# intervened logits [pos, d_vocab] of the prompt in `logits`.",
        helpers_of(hook_runtime),
        helpers_of(nnsight_runtime),
        "from nnsight import NNsight",
        "",
        f"prompt = {state.prompts[state.active]!r}",
        f"reference_prompts = {state.reference_prompts!r}",
        "tokens = model.to_tokens(prompt)",
        "n_pos = tokens.shape[1]",
        "edits = {}  # hook name -> [(index, value)], written in TransformerLens layout",
    ]
    hooks: list[str] = []
    for spec in state.interventions:
        where = "all positions" if spec.positions is None else f"positions {spec.positions}"
        lines.append(f"\n# {spec.kind} {spec.node} ({where}; id {spec.id})")
        for step in plan(spec, graph):
            if step.adds or step.recipe in ("latent", "edit"):
                what = "knowledge edits" if step.recipe == "edit" else "steering"
                raise TranspectorError(
                    f"session.code(style='nnsight') does not write {what} yet: use the "
                    "TransformerLens style (session.code())"
                )
            index = f"index_of({step.positions!r}, {step.feature!r})"
            lines.append(
                f"edits.setdefault({step.hook!r}, []).append(({index}, {value_code(step)}))"
            )
            hooks.append(step.hook)
    visits = sorted(dict.fromkeys(hooks), key=lambda name: order.get(name, len(order)))
    lines += [
        "",
        f"visits = {visits!r}  # in the order the forward reaches them",
        "traced = NNsight(model)",
        "paths = module_paths(model)",
        "with torch.no_grad(), traced.trace(tokens):",
        "    for name in visits:",
        "        envoy = hook_envoy(traced, model, name, paths)",
        "        envoy.output = edited(model.hook_dict[name], envoy.output, edits[name])",
        "    logits = traced.output[0].save()",
        "",
    ]
    return "\n".join(lines)
