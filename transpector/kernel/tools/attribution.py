"""Attribution patching: activation patching's sweep estimated to first order. Each cell's change
of the metric is (clean activation - corrupt activation) . d metric / d activation, with the
gradient taken on the corrupt run; one forward of the clean prompt and one forward and backward
of the corrupt prompt give every cell. The cells, the pair and the metric are activation
patching's (``patching_cells.plan_sweep``); ``compare`` runs that real sweep as well (its steps,
progress and cancel) and gives Pearson's r between the two grids. A cancel during the comparison
keeps the estimate. The runs are of the model as it is: the session's interventions are not
applied.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

import torch

from transpector.kernel.adapter import ModelAdapter
from transpector.kernel.adapter.gradients import Gradients, activation_gradients
from transpector.kernel.pairs import pick_pair
from transpector.kernel.tools.base import Cancelled, Step, Steps, Tool
from transpector.kernel.tools.metric import metric_texts
from transpector.kernel.tools.patching import activation_patching, label, normalized, scores
from transpector.kernel.tools.patching_cells import SweepPlan, plan_sweep
from transpector.protocol import metric as m
from transpector.protocol import tools as contracts
from transpector.protocol.attribution import AttributionArgs, AttributionResult
from transpector.protocol.metric import PromptPair
from transpector.protocol.patching import PatchingArgs, PatchingResult

if TYPE_CHECKING:
    from transpector.kernel.session import Session


def attribution_patching(session: Session, args: AttributionArgs) -> Steps:
    """The estimated sweep: a Step before the clean run and before the corrupt run's forward and
    backward; with ``compare``, then the real sweep's steps."""
    adapter: ModelAdapter = session.adapter
    pair = pick_pair(session, args, "attribution patching")
    clean_tokens = adapter.to_tokens(pair.clean, session.graph.n_ctx)
    corrupt_tokens = adapter.to_tokens(pair.corrupt, session.graph.n_ctx)
    plan = plan_sweep(session.graph, args, int(corrupt_tokens.shape[1]))
    metric = args.metric or session.metric
    named = [adapter.single_token(text) for text in metric_texts(metric)]  # before any forward
    yield Step(0, 2, "clean run")
    clean_logits, clean_acts = adapter.forward(clean_tokens, [], plan.hooks)
    ids = named or [int(clean_logits[-1].argmax())]  # top_prob: the clean prompt's top token
    yield Step(1, 2, "corrupt run and gradients")
    found = activation_gradients(
        adapter, corrupt_tokens, plan.hooks, partial(objective, metric, ids)
    )
    ends = scores(metric, ids, torch.stack([clean_logits[-1], found.logits[-1]]))
    raw = estimates(plan, clean_acts, found)
    result = _result(args, plan, pair, adapter, metric, ids, (ends[0], ends[1]), raw,
                     (clean_tokens, corrupt_tokens))  # fmt: skip
    if not args.compare:
        return result
    real_args = PatchingArgs.model_validate(args.model_dump(exclude={"compare"}))
    try:
        real = yield from activation_patching(session, real_args)
    except Cancelled:
        note = "; ".join(filter(None, [result.note, "the comparison was cancelled: estimate only"]))
        return result.model_copy(update={"note": note})
    assert isinstance(real, PatchingResult)
    r = pearson(raw, real.raw)
    notes = [result.note] if result.note else []
    if r is None:
        notes.append("no correlation: the estimated or the real grid is constant")
    return result.model_copy(update={"real": real, "correlation": r, "note": "; ".join(notes)})


def objective(metric: m.Metric, ids: list[int], logits: torch.Tensor) -> torch.Tensor:
    """The metric at the last position of ``logits`` [pos, d_vocab], differentiable (as
    ``patching.scores``)."""
    last = logits[-1].float()
    if isinstance(metric, m.TopProb):
        return (last[ids[0]] - last.logsumexp(-1)).exp()
    if isinstance(metric, m.LogitDiff):
        return last[ids[0]] - last[ids[1]]
    return last.logsumexp(-1) - last[ids[0]]


def estimates(plan: SweepPlan, clean: dict[str, torch.Tensor], corrupt: Gradients) -> list[float]:
    """Each cell's (clean - corrupt activation) . gradient, summed over the cell's index."""
    terms: dict[str, torch.Tensor] = {}
    for hook in plan.hooks:
        change = clean[hook].double() - corrupt.acts[hook].double()
        terms[hook] = change * corrupt.grads[hook].double()
    return [float(terms[cell.hook][cell.index].sum()) for cell in plan.cells]


def pearson(xs: list[float], ys: list[float]) -> float | None:
    """Pearson's r of two equally long lists; None when either is constant."""
    x = torch.tensor(xs, dtype=torch.float64)
    y = torch.tensor(ys, dtype=torch.float64)
    x, y = x - x.mean(), y - y.mean()
    norm = float(x.norm() * y.norm())
    if norm == 0.0:
        return None
    return max(-1.0, min(1.0, float((x * y).sum()) / norm))


def _result(
    args: AttributionArgs,
    plan: SweepPlan,
    pair: PromptPair,
    adapter: ModelAdapter,
    metric: m.Metric,
    ids: list[int],
    ends: tuple[float, float],
    raw: list[float],
    tokens: tuple[torch.Tensor, torch.Tensor],
) -> AttributionResult:
    clean, corrupt = ends
    values, note = normalized(clean, corrupt, raw)
    return AttributionResult(
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
        real=None,
        correlation=None,
        note=note,
    )


ATTRIBUTION_PATCHING = Tool(contracts.ATTRIBUTION_PATCHING, steps=attribution_patching)
