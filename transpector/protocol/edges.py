"""Edge attribution patching, and running a circuit of edges.

The graph's nodes write into the residual stream (senders: ``embed``, ``pos_embed``, each head
``L{l}.H{h}``, each MLP ``L{l}.mlp``) and read from it (receivers: each head, each MLP, and the
logits, ``unembed``). An edge is one sender's output as one later receiver reads it. Edge
attribution patching (Syed et al. 2023) estimates, to first order, how much patching one edge
from the clean run into the corrupt run changes the metric: (clean output - corrupt output) of
the sender . d metric / d (the receiver's own input), the gradient taken on the corrupt run, and
summed over positions. A head's own input is the residual stream as that head alone reads it
(through its query, key and value, and the layer norm before them).

A circuit is a set of edges. Running it: the clean prompt runs, and every edge *not* in the
circuit carries the corrupt run's value instead (its receiver's input is the residual stream
minus that sender's current output plus its corrupt output). Every edge kept gives the clean
metric; none kept gives the corrupt metric.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from transpector.protocol.metric import Metric, PromptPair
from transpector.protocol.patching import PairArgs


class EdgeAttributionArgs(PairArgs):
    """A clean/corrupt pair and a metric, as activation patching's."""

    max_edges: int = Field(
        default=200, ge=0, le=1_000_000, description="Send at most this many edges, largest first"
    )


class Edge(BaseModel):
    """One edge ``from_node`` -> ``to_node`` and its score."""

    from_node: str
    to_node: str
    score: float = Field(description="The estimated change of the metric (raw units)")


class EdgeAttributionResult(BaseModel):
    pair: PromptPair
    metric: Metric
    metric_label: str
    clean_value: float
    corrupt_value: float
    senders: list[str]
    receivers: list[str]
    n_edges: int = Field(description="Edges in the graph (sender before receiver)")
    edges: list[Edge] = Field(description="The largest |score| first, at most max_edges")
    note: str = ""


class CircuitArgs(PairArgs):
    """The pair and metric (as edge attribution patching's) and the edges to keep."""

    keep: list[tuple[str, str]] = Field(
        max_length=1_000_000,
        description="The circuit's edges as (from_node, to_node); every other edge is patched "
        "to its corrupt value",
    )


class CircuitResult(BaseModel):
    pair: PromptPair
    metric: Metric
    metric_label: str
    clean_value: float
    corrupt_value: float
    value: float = Field(description="The metric of the clean prompt run with only the circuit")
    normalized: float | None = Field(
        description="(value - corrupt) / (clean - corrupt): 1 when the circuit alone restores "
        "the clean metric, 0 when it does no better than the corrupt run; None when clean and "
        "corrupt are equal"
    )
    kept: int = Field(description="Edges kept")
    removed: int = Field(description="Edges patched to their corrupt value")
