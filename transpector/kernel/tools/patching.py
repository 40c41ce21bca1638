"""Activation patching sweeps (denoising): the corrupt prompt runs with one activation from the
clean prompt's run patched in, one patch per cell, scored by the session's metric at the last
position and normalized so that 0 is the corrupt run's value and 1 the clean run's.

Cells are batched: many patched copies of the corrupt prompt run in one forward, at most
``copies_per_forward`` (by default what ``memory_mb`` allows), one layer per forward. Each
forward starts at the patched layer's block from the corrupt run's input of that block (a patch
at layer L changes nothing before block L), unless the model cannot resume batched forwards
(``batch_resume_problem``): then every forward runs in full, and the result's ``note`` says why.
Positions before the first token where the prompts differ are the same in every patched run as in
the corrupt run: where the model can take their keys and values from that run
(``batched.prefix_name``), forwards run the later positions alone.
A cell whose clean value equals the corrupt run's (every cell before the first position where
the prompts differ) needs no forward: its patched run is the corrupt run.
The runs are of the model as it is: the session's interventions are not applied.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

from transpector.kernel.adapter import ModelAdapter
from transpector.kernel.adapter.batched import (
    CopyPatch,
    Start,
    batch_resume_problem,
    bytes_per_copy,
    last_logits,
    prefix_name,
    prefix_start,
)
from transpector.kernel.pairs import pick_pair
from transpector.kernel.tools.base import Step, Steps, Tool
from transpector.kernel.tools.metric import metric_texts
from transpector.kernel.tools.patching_cells import (
    Cell,
    SweepPlan,
    chunks,
    plan_sweep,
    position_axis,
    shared_prefix,
)
from transpector.kernel.tools.patching_scores import label, normalized, scores
from transpector.protocol import metric as m
from transpector.protocol import tools as contracts
from transpector.protocol.metric import PromptPair
from transpector.protocol.patching import PatchingArgs, PatchingResult

if TYPE_CHECKING:
    from transpector.kernel.session import Session

# The metric helpers live in patching_scores; the other pair tools import them from here too.
__all__ = ["ACTIVATION_PATCHING", "activation_patching", "label", "normalized", "scores"]


def activation_patching(session: Session, args: PatchingArgs) -> Steps:
    """Every cell of ``args.sweep``, a Step after each batched forward."""
    adapter: ModelAdapter = session.adapter
    graph = session.graph
    pair = pick_pair(session, args, "activation patching")
    clean_tokens = adapter.to_tokens(pair.clean, graph.n_ctx)
    corrupt_tokens = adapter.to_tokens(pair.corrupt, graph.n_ctx)
    plan = plan_sweep(graph, args, int(corrupt_tokens.shape[1]))
    metric = args.metric or session.metric
    named = [adapter.single_token(text) for text in metric_texts(metric)]  # before any forward
    total = len(plan.cells)
    yield Step(0, total, "clean and corrupt runs")

    problem = batch_resume_problem(adapter)
    entries = [graph.node(f"L{layer}.resid_pre").hooks["out"] for layer in plan.layers]
    kept = list(dict.fromkeys([*plan.hooks, *(entries if problem is None else [])]))
    clean_logits, clean_acts = adapter.forward(clean_tokens, [], plan.hooks)
    corrupt_logits, corrupt_acts, kwargs = adapter.forward_keeping_inputs(corrupt_tokens, [], kept)
    ids = named or [int(clean_logits[-1].argmax())]  # top_prob: the clean prompt's top token
    ends = scores(metric, ids, torch.stack([clean_logits[-1], corrupt_logits[-1]]))
    # A cell whose clean value equals the corrupt run's (any cell before the first position
    # where the prompts differ, say) writes what is there: its run is the corrupt run.
    raw = [ends[1]] * total
    todo = [i for i, cell in enumerate(plan.cells) if not _same(cell, clean_acts, corrupt_acts)]
    per_copy = bytes_per_copy(adapter.cfg, int(corrupt_tokens.shape[1]), problem is None)
    size = args.copies_per_forward or max(1, args.memory_mb * 2**20 // per_copy)
    cells_todo = [plan.cells[i] for i in todo]
    groups = chunks(cells_todo, size)
    # Positions before ``at`` are the corrupt run's in every copy: forwards run the later ones.
    name = prefix_name(adapter) if problem is None and todo else None
    at = shared_prefix(args.sweep, cells_todo, clean_tokens, corrupt_tokens) if name else 0
    first = None
    for group in groups:
        cells = cells_todo[group.start : group.stop]
        layer = cells[0].layer
        start = None
        if problem is None:
            start = Start(layer, corrupt_acts[entries[plan.layers.index(layer)]], kwargs)
        if start is not None and name is not None and at > 0:
            if first is None:  # the prefix's keys and values from the first layer swept on
                first = prefix_start(adapter, start, at, name)
            start = Start(layer, start.resid_pre[at:], first.kwargs, first.prefix)
        copies = [[_patch(cell, clean_acts, position_axis(args.sweep), at)] for cell in cells]
        found = scores(metric, ids, last_logits(adapter, corrupt_tokens, copies, start))
        for j, value in zip(group, found, strict=True):
            raw[todo[j]] = value
        yield Step(total - len(todo) + group.stop, total, f"L{layer} {args.sweep}")
    runs = Runs(len(groups), max((len(g) for g in groups), default=0), total - len(todo), problem)
    return _result(args, plan, pair, adapter, metric, ids, (ends[0], ends[1]), raw, runs,
                   (clean_tokens, corrupt_tokens))  # fmt: skip


@dataclass(frozen=True)
class Runs:
    """How the sweep ran: batched forwards, the most copies in one, cells that needed none, and
    why forwards ran in full (None: each started at its layer's block)."""

    forwards: int
    copies: int
    skipped: int
    problem: str | None


def _same(cell: Cell, clean: dict[str, torch.Tensor], corrupt: dict[str, torch.Tensor]) -> bool:
    return bool(torch.equal(clean[cell.hook][cell.index], corrupt[cell.hook][cell.index]))


def _patch(cell: Cell, clean_acts: dict[str, torch.Tensor], axis: int, at: int) -> CopyPatch:
    """The cell's patch on a forward of positions ``at``.. (position axis ``axis``)."""
    value, index = clean_acts[cell.hook], cell.index
    if at:
        value = value.narrow(axis, at, value.shape[axis] - at)
        index = tuple(
            i - at if k == axis and isinstance(i, int) else i for k, i in enumerate(index)
        )
    return CopyPatch(cell.hook, index, value[index])


def _result(
    args: PatchingArgs,
    plan: SweepPlan,
    pair: PromptPair,
    adapter: ModelAdapter,
    metric: m.Metric,
    ids: list[int],
    ends: tuple[float, float],
    raw: list[float],
    runs: Runs,
    tokens: tuple[torch.Tensor, torch.Tensor],
) -> PatchingResult:
    clean, corrupt = ends
    values, same_note = normalized(clean, corrupt, [r - corrupt for r in raw])
    notes = [f"full forwards: {runs.problem}"] if runs.problem is not None else []
    notes += [same_note] if same_note else []
    return PatchingResult(
        sweep=args.sweep,
        pair=pair,
        axes=plan.axes,
        shape=plan.shape,
        layers=plan.layers,
        positions=plan.positions,
        clean_tokens=adapter.str_tokens(tokens[0][0]),
        corrupt_tokens=adapter.str_tokens(tokens[1][0]),
        hooks=plan.hooks,
        metric=metric,
        metric_label=label(adapter, metric, ids),
        clean_value=clean,
        corrupt_value=corrupt,
        values=values,
        raw=raw,
        forwards=runs.forwards,
        copies_per_forward=runs.copies,
        skipped=runs.skipped,
        resumed=runs.problem is None,
        note="; ".join(notes),
    )


ACTIVATION_PATCHING = Tool(contracts.ACTIVATION_PATCHING, steps=activation_patching)
