"""The session's metric at the last position, on a run and on its clean run (before -> after)."""

from __future__ import annotations

import torch

from transpector.kernel.run_context import RunContext
from transpector.kernel.tools.base import Tool
from transpector.protocol import metric as p
from transpector.protocol import tools as contracts
from transpector.protocol.outputs import TokenProb


def metric_texts(metric: p.Metric) -> list[str]:
    """The tokens a metric names, as text: each must be one token."""
    if isinstance(metric, p.LogitDiff):
        return [metric.correct, metric.wrong]
    if isinstance(metric, p.TokenLoss):
        return [metric.token]
    return []


def metric_token_ids(context: RunContext, metric: p.Metric) -> list[int]:
    """The tokens ``metric`` reads: the clean run's top token, the two answers, or the token."""
    if isinstance(metric, p.TopProb):
        return [int(context.clean.logits[-1].argmax())]
    return [context.adapter.single_token(text) for text in metric_texts(metric)]


def metric_label(context: RunContext, metric: p.Metric, ids: list[int]) -> str:
    texts = [repr(t) for t in context.adapter.decode(ids)]
    if isinstance(metric, p.TopProb):
        return f"p({texts[0]})"
    if isinstance(metric, p.LogitDiff):
        return f"logit({texts[0]}) - logit({texts[1]})"
    return f"loss on {texts[0]}"


def score(context: RunContext, metric: p.Metric, ids: list[int]) -> float:
    """The metric's value on ``context`` at the last position."""
    with torch.inference_mode():
        logits = context.logits[-1].float()
        log_norm = float(context.log_normalizer[-1])
        picked = [float(logits[i]) for i in ids]
    if isinstance(metric, p.TopProb):
        return float(torch.tensor(picked[0] - log_norm).exp())
    if isinstance(metric, p.LogitDiff):
        return picked[0] - picked[1]
    return log_norm - picked[0]


def token_probs(context: RunContext, ids: list[int]) -> list[TokenProb]:
    with torch.inference_mode():
        probs = (context.logits[-1, ids].float() - context.log_normalizer[-1]).exp().tolist()
    texts = context.adapter.decode(ids)
    return [TokenProb(token=t, id=i, prob=q) for t, i, q in zip(texts, ids, probs, strict=True)]


def metric(context: RunContext, args: p.MetricArgs) -> p.MetricResult:
    chosen = args.metric or context.metric
    ids = metric_token_ids(context, chosen)
    value = p.MetricValue(
        spec=chosen,
        label=metric_label(context, chosen, ids),
        value=score(context, chosen, ids),
        clean=score(context.clean, chosen, ids),
        tokens=token_probs(context, ids),
    )
    return p.MetricResult(metric=value)


METRIC = Tool(contracts.METRIC, compute=metric)
