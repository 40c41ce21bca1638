"""Where an intervention acts: a node id resolved to a hook name and an index into its tensor."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, cast, get_args

from transpector.errors import TranspectorError
from transpector.protocol.graph import GraphSpec, NodeDataKind

NEURON = re.compile(r"L([0-9]+)\.mlp\.N([0-9]+)")  # fullmatch: no trailing newline, ASCII digits
# The node kinds an intervention can act on; the graph marks such nodes `targetable`.
TARGET_KINDS = {"head", "attn", "mlp", "resid_pre", "resid_mid", "resid_post", "embed", "pos_embed"}


@dataclass(frozen=True)
class Target:
    node: str
    kind: str  # a graph node kind, or "neuron"
    hook: str  # TransformerLens hook name
    feature: tuple[int, ...]  # index after [batch, pos]: (head,) for a head, (neuron,), or ()
    unit_shape: tuple[int, ...]  # shape of one position's value: patches need equal ones
    layer: int | None = None


def resolve(graph: GraphSpec, node_id: str) -> Target:
    """The Target for ``node_id``, or a TranspectorError saying what can be targeted."""
    neuron = NEURON.fullmatch(node_id)
    if neuron:
        layer, index = int(neuron.group(1)), int(neuron.group(2))
        mlp = f"L{layer}.mlp"
        if not graph.has(mlp) or graph.d_mlp is None:
            raise TranspectorError(f"unknown node '{node_id}': the model has no {mlp}")
        if index >= graph.d_mlp:
            raise TranspectorError(f"unknown node '{node_id}': {mlp} has {graph.d_mlp} neurons")
        hook = graph.node(mlp).hooks["post"]
        return Target(node_id, "neuron", hook, (index,), (), layer)
    if not graph.has(node_id):
        raise TranspectorError(f"unknown node '{node_id}'; node ids look like L0.H3, L2.mlp, embed")
    node = graph.node(node_id)
    if not node.targetable:
        raise TranspectorError(
            f"'{node_id}' is a {node.kind} node; interventions act on heads, attention layers, "
            "MLPs, neurons, residual and embedding nodes"
        )
    hook = node.hooks["out"]
    if node.kind == "head":
        assert node.head is not None
        return Target(node_id, "head", hook, (node.head,), (graph.d_head,), node.layer)
    return Target(node_id, node.kind, hook, (), (graph.d_model,), node.layer)


def check_positions(positions: list[int] | None, n_pos: int, node_id: str) -> None:
    if positions is None:
        return
    if not positions:
        raise TranspectorError(f"empty positions for {node_id}; pass None for all positions")
    bad = [p for p in positions if not -n_pos <= p < n_pos]
    if bad:
        raise TranspectorError(f"positions {bad} out of range for {n_pos} tokens ({node_id})")


@dataclass(frozen=True)
class DataSource:
    """Where a node's data comes from: ``hook``'s activation at ``index``, shown as ``what``."""

    hook: str
    index: tuple[Any, ...]  # into the activation without its batch dimension
    what: NodeDataKind


def data_source(graph: GraphSpec, node_id: str, what: str | None) -> DataSource:
    """What ``node_data(node_id, what)`` reads: a head's (or layer's) pattern, else the activation
    (a neuron's column); without ``what``, what the node shows by default (its ``shows``)."""
    target = resolve(graph, node_id) if NEURON.fullmatch(node_id) else None
    if target is None and not graph.has(node_id):
        raise TranspectorError(f"unknown node '{node_id}'; node ids look like L0.H3, L2.mlp")
    node = graph.node(node_id) if target is None else None
    kind = what or (node.shows if node is not None else None) or "activation"
    if kind not in get_args(NodeDataKind):
        raise TranspectorError(
            f"unknown node data '{what}': use pattern, activation, norm or scale"
        )
    kind = cast(NodeDataKind, kind)
    if kind == "pattern" and (node is None or node.kind not in ("head", "attn")):
        raise TranspectorError(f"'{node_id}' has no attention pattern")
    if kind == "scale":
        if node is None or "scale" not in node.hooks:
            raise TranspectorError(f"'{node_id}' has no scale: only norm nodes divide by one")
        return DataSource(node.hooks["scale"], (slice(None), 0), kind)  # hook_scale: [pos, 1]
    if target is not None:
        return DataSource(target.hook, (slice(None), *target.feature), kind)
    assert node is not None
    hook = node.hooks["pattern"] if kind == "pattern" else node.hooks.get("out", "")
    if not hook:
        raise TranspectorError(f"'{node_id}' has no activation")
    head = () if node.head is None else (node.head,)
    return DataSource(hook, head if kind == "pattern" else (slice(None), *head), kind)
