"""The cells of an activation patching sweep: for each, the layer, the hook it patches (named by
the graph's nodes) and the index into that hook's activation [pos, ...]."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from transpector.errors import TranspectorError
from transpector.kernel.targets import check_positions
from transpector.protocol.graph import GraphSpec
from transpector.protocol.patching import PatchingArgs, PatchingAxis, PatchingSweep

# Sweeps over one activation of the layer: the node it is read from.
LAYER_NODES = {"resid_pre": "resid_pre", "attn_out": "attn", "mlp_out": "mlp"}
# Sweeps over heads: the head node's hook role.
HEAD_ROLES = {"head_out": "out", "head_out_by_pos": "out", "head_pattern": "pattern",
              "q": "q", "k": "k", "v": "v"}  # fmt: skip
BY_POSITION = ("resid_pre", "attn_out", "mlp_out", "head_out_by_pos")


@dataclass(frozen=True)
class Cell:
    layer: int
    hook: str
    index: tuple[Any, ...]  # into the activation without its batch dimension


@dataclass(frozen=True)
class SweepPlan:
    axes: list[PatchingAxis]
    shape: list[int]
    layers: list[int]
    positions: list[int] | None
    hooks: list[str]  # the hook patched in each layer, in ``layers`` order
    cells: list[Cell]  # row-major over ``shape``


def plan_sweep(graph: GraphSpec, args: PatchingArgs, n_pos: int) -> SweepPlan:
    """Every cell of ``args.sweep`` on a prompt of ``n_pos`` tokens, layer-major; a
    TranspectorError for an empty sweep, layers or positions out of range, or a sweep the
    model has no hook for."""
    sweep = args.sweep
    layers = _layers(graph, args.layers)
    positions = _positions(sweep, args.positions, n_pos)
    hooks = [_hook(graph, sweep, layer) for layer in layers]
    axes: list[PatchingAxis] = ["layer"]
    cells: list[Cell] = []
    if sweep in LAYER_NODES:
        assert positions is not None
        axes.append("position")
        cells = [
            Cell(lay, hook, (p,))
            for lay, hook in zip(layers, hooks, strict=True)
            for p in positions
        ]
        return SweepPlan(axes, [len(layers), len(positions)], layers, positions, hooks, cells)
    kv = sweep in ("k", "v") and graph.n_kv_heads < graph.n_heads
    heads = range(graph.n_kv_heads if kv else graph.n_heads)
    axes.append("kv_head" if kv else "head")
    shape = [len(layers), len(heads)]
    for layer, hook in zip(layers, hooks, strict=True):
        for h in heads:
            if sweep == "head_out_by_pos":
                assert positions is not None
                cells.extend(Cell(layer, hook, (p, h)) for p in positions)
            elif sweep == "head_pattern":
                cells.append(Cell(layer, hook, (h,)))  # pattern [head, query, key]
            else:
                cells.append(Cell(layer, hook, (slice(None), h)))  # [pos, head, d_head]
    if positions is not None:
        axes.append("position")
        shape.append(len(positions))
    return SweepPlan(axes, shape, layers, positions, hooks, cells)


def _layers(graph: GraphSpec, layers: list[int] | None) -> list[int]:
    if layers is None:
        return list(range(graph.n_layers))
    if not layers:
        raise TranspectorError("the sweep is empty: layers=[]; give some layers, or None for all")
    bad = sorted({x for x in layers if x >= graph.n_layers})
    if bad:
        raise TranspectorError(f"layers {bad} out of range: the model has {graph.n_layers}")
    return sorted(set(layers))


def _positions(sweep: PatchingSweep, positions: list[int] | None, n_pos: int) -> list[int] | None:
    if sweep not in BY_POSITION:
        if positions is not None:
            raise TranspectorError(
                f"the {sweep} sweep patches every position at once; positions apply to "
                f"{', '.join(BY_POSITION)}"
            )
        return None
    if positions is None:
        return list(range(n_pos))
    if not positions:
        raise TranspectorError("the sweep is empty: positions=[]; give some, or None for all")
    check_positions(positions, n_pos, f"the {sweep} sweep")
    return sorted({p % n_pos for p in positions})


def _hook(graph: GraphSpec, sweep: PatchingSweep, layer: int) -> str:
    """The hook ``sweep`` patches in ``layer``, from the graph's node for it."""
    if sweep in LAYER_NODES:
        node_id = f"L{layer}.{LAYER_NODES[sweep]}"
        if not graph.has(node_id):
            why = " (an attention-only model)" if graph.attn_only else ""
            raise TranspectorError(f"the {sweep} sweep needs {node_id}: this model has none{why}")
        return graph.node(node_id).hooks["out"]
    role = HEAD_ROLES[sweep]
    node_id = f"L{layer}.H0"
    hook = graph.node(node_id).hooks.get(role) if graph.has(node_id) else None
    if hook is None:
        raise TranspectorError(f"the {sweep} sweep needs the heads' {role} hook in layer {layer}")
    return hook


def shared_prefix(sweep: PatchingSweep, cells: list[Cell], clean: Any, corrupt: Any) -> int:
    """How many leading positions every cell's patched run shares with the corrupt run (tokens
    ``clean`` and ``corrupt`` [1, pos]): those before the first token where the prompts differ
    (causal: every activation there is the same in both runs, so a cell that patches every
    position writes the corrupt run's values there) and before any position a cell patches
    alone; at most all but the last."""
    n = int(corrupt.shape[1])
    if clean.shape != corrupt.shape:
        return 0
    differ = (clean[0] != corrupt[0]).nonzero()
    found = int(differ[0, 0]) if len(differ) else n
    axis = position_axis(sweep)
    for cell in cells:
        if len(cell.index) > axis and isinstance(cell.index[axis], int):
            found = min(found, cell.index[axis])
    return min(found, n - 1)


def position_axis(sweep: PatchingSweep) -> int:
    """The position axis of the activation a cell of ``sweep`` indexes (no batch dimension):
    the query axis of a pattern [head, query, key], else the first."""
    return 1 if sweep == "head_pattern" else 0


def chunks(cells: list[Cell], size: int) -> list[range]:
    """Runs of consecutive cells of one layer, at most ``size`` long: each is one forward (all
    its copies start at that layer's block)."""
    found: list[range] = []
    start = 0
    for i in range(1, len(cells) + 1):
        if i == len(cells) or cells[i].layer != cells[start].layer or i - start == size:
            found.append(range(start, i))
            start = i
    return found
