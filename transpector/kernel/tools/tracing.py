"""Causal tracing (Meng et al. 2022): the subject's token embeddings get Gaussian noise, and each
(layer, position) of each kind has its clean state restored in a run of its own; the answer's
probability at the last position, averaged over the noise samples, fills the grid.

Runs are batched: each forward holds many restored copies (a cell and a noise sample each), at
most ``copies_per_forward`` (by default what ``memory_mb`` allows). First the noised runs, one
copy per sample, keep every layer's input; then each restored copy starts at its first restored
layer's block from its sample's noised input of that block (restores there or later change
nothing before it), unless the model cannot resume batched forwards (``batch_resume_problem``):
then every forward runs in full from noised embeddings, and the result's ``note`` says why. A
copy whose restored values all equal its noised run's (positions before the subject) needs no
forward: its run is the noised run. The session's interventions are not applied.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch

from transpector.errors import TranspectorError
from transpector.kernel.adapter import ModelAdapter
from transpector.kernel.adapter.batched import CopyPatch, batch_resume_problem, bytes_per_copy
from transpector.kernel.adapter.tracing import (
    RowNoise,
    RowStart,
    embedding_std,
    subject_positions,
    traced_last_logits,
)
from transpector.kernel.targets import check_positions
from transpector.kernel.tools.base import Step, Steps, Tool
from transpector.protocol import tools as contracts
from transpector.protocol.graph import GraphSpec
from transpector.protocol.tracing import Trace, TraceKind, TracingArgs, TracingResult

if TYPE_CHECKING:
    from transpector.kernel.session import Session

KINDS: tuple[TraceKind, ...] = ("resid_pre", "mlp_out", "attn_out")
KIND_NODES = {"resid_pre": "resid_pre", "mlp_out": "mlp", "attn_out": "attn"}


@dataclass(frozen=True)
class Row:
    """One row of a kind's grid: centred on ``layer``, it restores ``hooks`` (of ``restored``)."""

    layer: int
    restored: list[int]
    hooks: list[str]


@dataclass(frozen=True)
class Run:
    """One restored run: row ``row`` of kind ``kind`` at ``position``, with noise ``sample``."""

    kind: int
    row: int
    position: int
    sample: int
    start: int  # the first restored layer: the run's forward may start at its block


def noise_draws(seed: int, samples: int, n_subject: int, d_model: int) -> torch.Tensor:
    """Unit Gaussian noise [samples, n_subject, d_model], float32, from ``seed``."""
    generator = torch.Generator().manual_seed(seed)
    return torch.randn((samples, n_subject, d_model), generator=generator)


def causal_tracing(session: Session, args: TracingArgs) -> Steps:
    """Every cell of every kind, a Step after each batched forward."""
    adapter: ModelAdapter = session.adapter
    graph = session.graph
    text = session.prompt if args.text is None else args.text
    tokens = adapter.to_tokens(text, graph.n_ctx)
    n_pos = int(tokens.shape[1])
    subject = _subject(adapter, text, tokens, args)
    kinds, note = _kinds(graph, args.kinds)
    rows = [plan_rows(graph, kind, args.window) for kind in kinds]
    asked = None if args.answer is None else adapter.single_token(args.answer)  # before a forward
    runs = [Run(k, r, p, s, row.restored[0])
            for k, kind_rows in enumerate(rows) for r, row in enumerate(kind_rows)
            for p in range(n_pos) for s in range(args.samples)]  # fmt: skip
    total = len(runs)
    yield Step(0, total, "clean and noised runs")

    embed_std = embedding_std(adapter)
    draws = noise_draws(args.seed, args.samples, len(subject), graph.d_model)
    draws = draws * (args.noise_scale * embed_std)
    noise = RowNoise(graph.node("embed").hooks["out"], subject, draws)
    problem = batch_resume_problem(adapter)
    entries = [graph.node(f"L{layer}.resid_pre").hooks["out"] for layer in range(graph.n_layers)]
    restored = [hook for kind_rows in rows for row in kind_rows for hook in row.hooks]
    capture = list(dict.fromkeys([*restored, *(entries if problem is None else [])]))
    clean_logits, clean, kwargs = adapter.forward_keeping_inputs(tokens, [], capture)
    answer = asked if asked is not None else int(clean_logits[-1].argmax())
    clean_prob = answer_probs(clean_logits[-1:].float(), answer)[0]

    full = max(1, args.memory_mb * 2**20 // bytes_per_copy(adapter.cfg, n_pos, False))
    resumed = max(1, args.memory_mb * 2**20 // bytes_per_copy(adapter.cfg, n_pos, True))
    sizes: list[int] = []
    noised_probs: list[float] = []
    kept: dict[str, list[torch.Tensor]] = {hook: [] for hook in capture}
    for group in _chunks(list(range(args.samples)), lambda s: 0, args.copies_per_forward or full):
        part = RowNoise(noise.hook, subject, draws[group])
        logits, acts = traced_last_logits(adapter, tokens, [[]] * len(group), part, None, capture)
        noised_probs.extend(answer_probs(logits, answer))
        for hook in capture:
            kept[hook].append(acts[hook])
        sizes.append(len(group))
    noised = {hook: torch.cat(parts) for hook, parts in kept.items()}  # [samples, pos, ...]

    def hooks_of(run: Run) -> list[str]:
        return rows[run.kind][run.row].hooks

    values = [0.0] * total
    todo: list[int] = []
    for i, run in enumerate(runs):
        at = run.position
        if all(torch.equal(clean[h][at], noised[h][run.sample, at]) for h in hooks_of(run)):
            values[i] = noised_probs[run.sample]  # restores nothing: the noised run
        else:
            todo.append(i)
    done = total - len(todo)
    yield Step(done, total, "noised runs")
    size = args.copies_per_forward or (resumed if problem is None else full)
    for group in _chunks(todo, lambda i: (runs[i].kind, runs[i].start), size):
        batch = [runs[i] for i in group]
        copies = [[CopyPatch(h, (run.position,), clean[h][run.position]) for h in hooks_of(run)]
                  for run in batch]  # fmt: skip
        picked = [run.sample for run in batch]
        first = batch[0].start
        if problem is None:
            start = RowStart(first, noised[entries[first]][picked], kwargs)
            logits, _ = traced_last_logits(adapter, tokens, copies, None, start)
        else:
            part = RowNoise(noise.hook, subject, draws[picked])
            logits, _ = traced_last_logits(adapter, tokens, copies, part)
        for i, value in zip(group, answer_probs(logits, answer), strict=True):
            values[i] = value
        sizes.append(len(group))
        done += len(group)
        yield Step(done, total, f"{kinds[batch[0].kind]} from L{first}")

    traces = [
        Trace(kind=kind, restored=[row.restored for row in kind_rows],
              probs=_grid(values, k, len(kind_rows), n_pos, args.samples))
        for k, (kind, kind_rows) in enumerate(zip(kinds, rows, strict=True))
    ]  # fmt: skip
    notes = [f"full forwards: {problem}"] if problem is not None else []
    return TracingResult(
        text=text,
        tokens=adapter.str_tokens(tokens[0]),
        subject=args.subject,
        subject_positions=subject,
        answer=adapter.decode([answer])[0],
        answer_id=answer,
        embed_std=embed_std,
        noise_std=args.noise_scale * embed_std,
        samples=args.samples,
        seed=args.seed,
        clean_prob=clean_prob,
        corrupted_prob=sum(noised_probs) / args.samples,
        layers=list(range(graph.n_layers)),
        positions=list(range(n_pos)),
        traces=traces,
        forwards=len(sizes),
        copies_per_forward=max(sizes),
        skipped=total - len(todo),
        resumed=problem is None,
        note="; ".join([*notes, *note]),
    )


def answer_probs(last: torch.Tensor, answer: int) -> list[float]:
    """The probability of ``answer`` in each row of ``last`` [rows, d_vocab] (float32 logits)."""
    with torch.inference_mode():
        found: list[float] = (last[:, answer] - last.logsumexp(-1)).exp().tolist()
    return found


def plan_rows(graph: GraphSpec, kind: TraceKind, window: int) -> list[Row]:
    """Each layer's row: ``resid_pre`` restores that layer's input; ``mlp_out`` and
    ``attn_out`` restore the outputs of the ``window`` layers centred on it, cut at the ends of
    the model (layers layer - window // 2 up to layer + ceil(window / 2), exclusive)."""
    n = graph.n_layers
    found = []
    for layer in range(n):
        span = [layer] if kind == "resid_pre" else _window(layer, window, n)
        hooks = [graph.node(f"L{j}.{KIND_NODES[kind]}").hooks["out"] for j in span]
        found.append(Row(layer, span, hooks))
    return found


def _window(layer: int, window: int, n_layers: int) -> list[int]:
    return list(range(max(0, layer - window // 2), min(n_layers, layer - (-window // 2))))


def _kinds(graph: GraphSpec, asked: list[TraceKind] | None) -> tuple[list[TraceKind], list[str]]:
    """The kinds to trace, in KINDS order, and a note on those left out by default."""
    has = [kind for kind in KINDS if graph.has(f"L0.{KIND_NODES[kind]}")]
    if asked is None:
        left = [kind for kind in KINDS if kind not in has]
        return has, [f"no {', '.join(left)} trace: the model has no such node"] if left else []
    for kind in asked:
        if kind not in has:
            node = f"L0.{KIND_NODES[kind]}"
            why = " (an attention-only model)" if graph.attn_only else ""
            raise TranspectorError(f"the {kind} trace needs {node}: this model has none{why}")
    return [kind for kind in KINDS if kind in asked], []


def _subject(
    adapter: ModelAdapter, text: str, tokens: torch.Tensor, args: TracingArgs
) -> list[int]:
    """The subject's token positions, ascending, from ``subject`` or ``positions``."""
    n_pos = int(tokens.shape[1])
    if args.subject is not None and args.positions is not None:
        raise TranspectorError("give the subject or its token positions, not both")
    if args.subject is not None:
        return subject_positions(adapter, text, tokens, args.subject)
    if args.positions is None:
        raise TranspectorError(
            "causal tracing needs the subject to noise: subject='...' (a part of the prompt) "
            "or positions=[...] (its token positions)"
        )
    if not args.positions:
        raise TranspectorError("positions=[] is empty: give the subject's token positions")
    check_positions(args.positions, n_pos, "the subject")
    return sorted({p % n_pos for p in args.positions})


def _chunks(items: list[int], key: Callable[[int], Any], size: int) -> list[list[int]]:
    """Runs of consecutive ``items`` of one ``key``, at most ``size`` long: one forward each."""
    found: list[list[int]] = []
    for item in items:
        if found and len(found[-1]) < size and key(found[-1][0]) == key(item):
            found[-1].append(item)
        else:
            found.append([item])
    return found


def _grid(
    values: list[float], kind: int, n_rows: int, n_pos: int, samples: int
) -> list[list[float]]:
    """Kind ``kind``'s [row][position] means over the samples (``values`` ordered as the runs)."""
    first = kind * n_rows * n_pos
    starts = [[(first + r * n_pos + p) * samples for p in range(n_pos)] for r in range(n_rows)]
    return [[sum(values[at : at + samples]) / samples for at in row] for row in starts]


CAUSAL_TRACING = Tool(contracts.CAUSAL_TRACING, steps=causal_tracing)
