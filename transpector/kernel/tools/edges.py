"""Edge attribution patching and circuits (see ``transpector.protocol.edges``).

``edge_attribution``: one forward of the clean prompt and one forward and backward of the
corrupt prompt score every edge of the graph. ``circuit``: the clean prompt runs with every edge
not kept patched to the corrupt run's value, and the metric says how much of the clean
behaviour the circuit alone keeps. Both run the model as it is: the session's interventions are
not applied.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

import torch

from transpector.errors import TranspectorError
from transpector.kernel.adapter import ModelAdapter
from transpector.kernel.adapter.edges import (
    EdgeGraph,
    circuit_logits,
    edge_graph,
    receiver_gradients,
    sender_outputs,
)
from transpector.kernel.pairs import pick_pair
from transpector.kernel.tools.attribution import objective
from transpector.kernel.tools.base import Step, Steps, Tool
from transpector.kernel.tools.metric import metric_texts
from transpector.kernel.tools.patching import label, normalized, scores
from transpector.protocol import metric as m
from transpector.protocol import tools as contracts
from transpector.protocol.edges import (
    CircuitArgs,
    CircuitResult,
    Edge,
    EdgeAttributionArgs,
    EdgeAttributionResult,
)
from transpector.protocol.metric import PromptPair
from transpector.protocol.patching import PairArgs

if TYPE_CHECKING:
    from transpector.kernel.session import Session


@dataclass(frozen=True)
class PairRun:
    """A pair tool's inputs: the pair, its tokens, the edges, the metric and its tokens (named by
    the metric, or the clean run's top token for top_prob), and the clean run's last logits."""

    adapter: ModelAdapter
    pair: PromptPair
    clean: torch.Tensor
    corrupt: torch.Tensor
    edges: EdgeGraph
    metric: m.Metric
    ids: list[int]
    clean_acts: dict[str, torch.Tensor]
    clean_last: torch.Tensor

    def described(self, clean_value: float, corrupt_value: float) -> dict[str, Any]:
        """The fields both results share: the pair, the metric and its two ends."""
        return {"pair": self.pair, "metric": self.metric, "clean_value": clean_value,
                "metric_label": label(self.adapter, self.metric, self.ids),
                "corrupt_value": corrupt_value}  # fmt: skip


def pair_run(session: Session, args: PairArgs, what: str) -> PairRun:
    """Checks the pair and the metric, then runs the clean prompt keeping the senders' outputs."""
    adapter: ModelAdapter = session.adapter
    pair = pick_pair(session, args, what)
    clean = adapter.to_tokens(pair.clean, session.graph.n_ctx)
    corrupt = adapter.to_tokens(pair.corrupt, session.graph.n_ctx)
    edges = edge_graph(session.graph, adapter.hook_names)
    metric = args.metric or session.metric
    named = [adapter.single_token(text) for text in metric_texts(metric)]  # before any forward
    logits, acts = adapter.forward(clean, [], edges.sender_hooks())
    ids = named or [int(logits[-1].argmax())]
    return PairRun(adapter, pair, clean, corrupt, edges, metric, ids, acts, logits[-1])


def edge_attribution(session: Session, args: EdgeAttributionArgs) -> Steps:
    yield Step(0, 2, "clean run")
    run = pair_run(session, args, "edge attribution patching")
    yield Step(1, 2, "corrupt run and gradients")
    eg = run.edges
    found = receiver_gradients(
        run.adapter, eg, run.corrupt, partial(objective, run.metric, run.ids)
    )
    clean_value, corrupt_value = scores(
        run.metric, run.ids, torch.stack([run.clean_last, found.logits[-1]])
    )
    change = sender_outputs(run.adapter, eg, run.clean_acts) - found.outputs
    table = torch.einsum("spd,rpd->sr", change.double(), found.grads.double())
    table = torch.where(eg.allowed, table, 0.0)
    order = table.abs().flatten().argsort(descending=True)[: args.max_edges]
    width = len(eg.receivers)
    edges = [
        Edge(from_node=eg.senders[i // width], to_node=eg.receivers[i % width],
             score=float(table.flatten()[i]))
        for i in order.tolist()
        if eg.allowed.flatten()[i]
    ]  # fmt: skip
    _, note = normalized(clean_value, corrupt_value, [])
    return EdgeAttributionResult(
        **run.described(clean_value, corrupt_value),
        senders=eg.senders,
        receivers=eg.receivers,
        n_edges=int(eg.allowed.sum()),
        edges=edges,
        note=note,
    )


def circuit(session: Session, args: CircuitArgs) -> Steps:
    eg = edge_graph(session.graph, session.adapter.hook_names)
    removed = eg.allowed & ~kept_table(eg, args.keep)  # before any forward
    yield Step(0, 3, "clean run")
    run = pair_run(session, args, "running a circuit")
    yield Step(1, 3, "corrupt run")
    corrupt_logits, corrupt_acts = run.adapter.forward(run.corrupt, [], eg.sender_hooks())
    corrupt_out = sender_outputs(run.adapter, eg, corrupt_acts)
    yield Step(2, 3, "the circuit")
    logits = circuit_logits(run.adapter, eg, run.clean, corrupt_out, removed)
    clean_value, corrupt_value, value = scores(
        run.metric, run.ids, torch.stack([run.clean_last, corrupt_logits[-1], logits[-1]])
    )
    shares, _ = normalized(clean_value, corrupt_value, [value - corrupt_value])
    return CircuitResult(
        **run.described(clean_value, corrupt_value),
        value=value,
        normalized=None if shares is None else shares[0],
        kept=int(eg.allowed.sum() - removed.sum()),
        removed=int(removed.sum()),
    )


def kept_table(eg: EdgeGraph, keep: list[tuple[str, str]]) -> torch.Tensor:
    """[n_send, n_recv] bool of the edges in ``keep``; a TranspectorError for an unknown node
    or a pair that is no edge (its sender does not write before its receiver reads)."""
    send = {name: i for i, name in enumerate(eg.senders)}
    receive = {name: i for i, name in enumerate(eg.receivers)}
    table = torch.zeros_like(eg.allowed)
    for sender, receiver in keep:
        if sender not in send:
            raise TranspectorError(f"no sender '{sender}': senders are embed, heads and MLPs")
        if receiver not in receive:
            raise TranspectorError(f"no receiver '{receiver}': receivers are heads, MLPs, unembed")
        if not eg.allowed[send[sender], receive[receiver]]:
            raise TranspectorError(f"{sender} -> {receiver} is no edge: {receiver} reads first")
        table[send[sender], receive[receiver]] = True
    return table


EDGE_ATTRIBUTION = Tool(contracts.EDGE_ATTRIBUTION, steps=edge_attribution)
CIRCUIT = Tool(contracts.CIRCUIT, steps=circuit)
