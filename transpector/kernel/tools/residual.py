"""The residual stream of the session's run: every row's norm, and each component's direct
contribution to the metric's logit at a window of positions (head DLA's decomposition, through
``outputs.contribution`` with each position's own final-norm scale).

What the metric's logit is at a position: top_prob reads this run's top token there (as head DLA
does at the last position), logit_diff the difference of its two tokens, token_loss its token's.
"""

from __future__ import annotations

import torch

from transpector.errors import TranspectorError
from transpector.kernel.adapter.components import attention_biases, bias_logits
from transpector.kernel.run_context import RunContext
from transpector.kernel.tools.base import Tool
from transpector.kernel.tools.lens import lens_rows
from transpector.kernel.tools.metric import metric_token_ids
from transpector.kernel.tools.outputs import (
    contribution,
    dla_label,
    head_vectors,
    readout,
    scale_hook,
)
from transpector.protocol import residual as p
from transpector.protocol import tools as contracts
from transpector.protocol.graph import GraphSpec
from transpector.protocol.metric import TopProb

EMBEDS = ("embed", "pos_embed")


def _window(n_pos: int, positions: list[int] | None) -> list[int]:
    """The ascending positions to decompose: the given ones (negative count from the end), else
    the last one."""
    if positions is None:
        return [n_pos - 1]
    bad = [q for q in positions if not -n_pos <= q < n_pos]
    if bad:
        raise TranspectorError(
            f"residual_stream: positions {bad} out of range for {n_pos} tokens "
            f"(0 to {n_pos - 1}, or -{n_pos} to -1 from the end)"
        )
    return sorted({q % n_pos for q in positions})


def _hooks(graph: GraphSpec) -> list[str]:
    """Every hook the decomposition reads: embeddings, z and MLP outputs, residual rows, scale."""
    hooks = [graph.node(name).hooks["out"] for name in EMBEDS if graph.has(name)]
    for layer in range(graph.n_layers):
        hooks.append(graph.node(f"L{layer}.attn").hooks["z"])
        if graph.has(f"L{layer}.mlp"):
            hooks.append(graph.node(f"L{layer}.mlp").hooks["out"])
    hooks += [graph.node(row).hooks["out"] for row in lens_rows(graph)]
    scale = scale_hook(graph)
    return [*hooks, *([scale] if scale else [])]


def _components(
    context: RunContext, acts: dict[str, torch.Tensor], position: int
) -> tuple[list[str], torch.Tensor]:
    """Names and vectors [component, d_model] of what wrote into the stream at ``position``."""
    graph, b_o = context.graph, attention_biases(context.adapter)
    names = [name for name in EMBEDS if graph.has(name)]
    vectors = [acts[graph.node(name).hooks["out"]][position][None] for name in names]
    for layer in range(graph.n_layers):
        z = acts[graph.node(f"L{layer}.attn").hooks["z"]][position]  # [head, d_head]
        names += [f"L{layer}.H{head}" for head in range(z.shape[0])]
        vectors.append(head_vectors(context, z, layer))
        if b_o is not None:
            names.append(f"L{layer}.b_O")
            vectors.append(b_o[layer][None])
        if graph.has(f"L{layer}.mlp"):
            names.append(f"L{layer}.mlp")
            vectors.append(acts[graph.node(f"L{layer}.mlp").hooks["out"]][position][None])
    return names, torch.cat(vectors)


def residual_stream(context: RunContext, args: p.ResidualArgs) -> p.ResidualResult:
    """Per position: each component's contribution to the metric's logit, their total, and the
    run's logit; per residual row: its norm and its own contribution (the cumulative sum)."""
    positions = _window(context.n_pos, args.positions)
    acts = context.acts_of(_hooks(context.graph))
    rows = lens_rows(context.graph)
    # [row, position, d_model]
    stream = torch.stack([acts[context.graph.node(row).hooks["out"]][positions] for row in rows])
    metric = context.metric
    fixed = None if isinstance(metric, TopProb) else metric_token_ids(context, metric)
    edits = context.clean is not context  # interventions may write besides the components
    labels, token_ids, table, logits, cumulative = [], [], [], [], []
    names: list[str] = []
    for column, position in enumerate(positions):
        ids = fixed or [int(context.logits[position].argmax())]
        read = readout(context, position, ids)
        names, vectors = _components(context, acts, position)
        if edits:
            names.append("edits")
            vectors = torch.cat([vectors, stream[-1, column][None] - vectors.sum(0)[None]])
        terms = contribution(vectors, read).tolist()
        for name, values in bias_logits(context.adapter, ids).items():
            names.append(name)
            terms.append(float(values[0] - values[1]) if len(ids) == 2 else float(values[0]))
        picked = context.logits[position, ids].float()
        logits.append(float(picked[0] - picked[1]) if len(ids) == 2 else float(picked[0]))
        labels.append(dla_label(context, ids))
        token_ids.append(ids)
        table.append(terms)
        cumulative.append(contribution(stream[:, column], read).tolist())
    with torch.inference_mode():
        norms = stream.float().norm(dim=-1).tolist()
    return p.ResidualResult(
        positions=positions,
        n_tokens=context.n_pos,
        labels=labels,
        token_ids=token_ids,
        components=names,
        contributions=table,
        total=[sum(terms) for terms in table],
        logit=logits,
        rows=rows,
        norms=norms,
        cumulative=[list(row) for row in zip(*cumulative, strict=True)],
    )


RESIDUAL_STREAM = Tool(contracts.RESIDUAL_STREAM, compute=residual_stream)
