"""A note's target checked against the model: the node exists, the layer and head are in range,
the lens row is one of the lens's, a position is within ±n_ctx. Forms: transpector.protocol.notes.
"""

from __future__ import annotations

from transpector.errors import TranspectorError
from transpector.kernel.targets import NEURON
from transpector.kernel.tools.lens import lens_rows
from transpector.protocol.graph import GraphSpec
from transpector.protocol.notes import TARGET_FORMS, NoteTarget, parse_target


def check_note_target(graph: GraphSpec, text: str) -> NoteTarget:
    """``text``'s parts when it names something in this model, else one TranspectorError:
    what is wrong, then the forms a target takes."""
    try:
        target = parse_target(text)
    except ValueError as error:
        message = f"cannot note {text!r}: {error}; a note target is {TARGET_FORMS}"
        raise TranspectorError(message) from None
    problem = _problem(graph, target)
    if problem:
        raise TranspectorError(f"cannot note {text!r}: {problem}; a note target is {TARGET_FORMS}")
    return target


def _problem(graph: GraphSpec, target: NoteTarget) -> str:
    if target.kind == "node":
        assert target.node is not None
        return _node_problem(graph, target.node)
    if target.position is not None and not -graph.n_ctx <= target.position < graph.n_ctx:
        return f"position {target.position} is out of range (n_ctx is {graph.n_ctx})"
    if target.kind == "lens":
        rows = lens_rows(graph)
        if target.row not in rows:
            return f"{target.row} is not a logit lens row (rows: {rows[0]} ... {rows[-1]})"
    if target.kind == "sweep":
        assert target.layer is not None
        if target.layer >= graph.n_layers:
            return f"unknown layer {target.layer}: the model has {graph.n_layers} layers"
        kv = target.sweep in ("k", "v") and graph.n_kv_heads < graph.n_heads
        n_heads = graph.n_kv_heads if kv else graph.n_heads
        if target.head is not None and target.head >= n_heads:
            what = "key/value heads" if kv else "heads"
            return f"unknown head {target.head}: layer {target.layer} has {n_heads} {what}"
    return ""


def _node_problem(graph: GraphSpec, node: str) -> str:
    if graph.has(node):
        return ""
    neuron = NEURON.fullmatch(node)
    if neuron is None:
        return f"unknown node (the model has {graph.n_layers} layers, {graph.n_heads} heads)"
    layer, index = int(neuron.group(1)), int(neuron.group(2))
    if node != f"L{layer}.mlp.N{index}":
        return f"unknown node: write it L{layer}.mlp.N{index}"
    if not graph.has(f"L{layer}.mlp") or graph.d_mlp is None:
        return f"unknown node: the model has no L{layer}.mlp"
    if index >= graph.d_mlp:
        return f"unknown node: L{layer}.mlp has {graph.d_mlp} neurons"
    return ""
