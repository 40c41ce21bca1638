"""The metric of patched runs' last-position logits, and its normalization to 0 = the corrupt
run, 1 = the clean run: shared by the patching tools."""

from __future__ import annotations

import torch

from transpector.kernel.adapter import ModelAdapter
from transpector.protocol import metric as m

SAME = 1e-6  # relative: clean and corrupt values closer than this cannot be normalized


def normalized(
    clean: float, corrupt: float, changes: list[float]
) -> tuple[list[float] | None, str]:
    """Each change of the metric over the corrupt run as a share of clean - corrupt; None, and
    a note saying why, when the two prompts score the same."""
    span = clean - corrupt
    if abs(span) <= SAME * max(1.0, abs(clean), abs(corrupt)):
        note = (
            f"the clean and corrupt prompts score the same ({clean:.6g}): nothing to normalize, "
            "only raw values"
        )
        return None, note
    return [change / span for change in changes], ""


def scores(metric: m.Metric, ids: list[int], last: torch.Tensor) -> list[float]:
    """The metric of each row of ``last`` [rows, d_vocab], last-position logits (as
    ``tools.metric.score``)."""
    with torch.inference_mode():
        logits = last.float()
        log_norm = logits.logsumexp(-1)
        picked = logits[:, ids]
        if isinstance(metric, m.TopProb):
            values = (picked[:, 0] - log_norm).exp()
        elif isinstance(metric, m.LogitDiff):
            values = picked[:, 0] - picked[:, 1]
        else:
            values = log_norm - picked[:, 0]
    found: list[float] = values.tolist()
    return found


def label(adapter: ModelAdapter, metric: m.Metric, ids: list[int]) -> str:
    texts = [repr(t) for t in adapter.decode(ids)]
    if isinstance(metric, m.TopProb):
        return f"p({texts[0]})"
    if isinstance(metric, m.LogitDiff):
        return f"logit({texts[0]}) - logit({texts[1]})"
    return f"loss on {texts[0]}"
