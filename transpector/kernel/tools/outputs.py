"""The run's outputs: top-k next tokens, per-token loss and per-head direct logit attribution."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from transpector.kernel.run_context import RunContext
from transpector.kernel.tools.base import Tool
from transpector.kernel.tools.metric import metric_token_ids, token_probs
from transpector.protocol import outputs as o
from transpector.protocol import tools as contracts
from transpector.protocol.graph import GraphSpec
from transpector.protocol.metric import TopProb


def top_k_of(context: RunContext, logits: torch.Tensor, k: int) -> list[list[o.TokenProb]]:
    """The k most likely tokens of each row of ``logits`` [rows, d_vocab] (a lens cell's, say)."""
    return _top_k(context, logits, logits.float().logsumexp(-1), k)


def _top_k(
    context: RunContext, logits: torch.Tensor, normalizer: torch.Tensor, k: int
) -> list[list[o.TokenProb]]:
    with torch.inference_mode():
        values, ids = logits.topk(min(k, logits.shape[-1]), dim=-1)
        probs = (values.float() - normalizer[:, None]).exp()
    texts = context.adapter.decode(ids.flatten().tolist())
    flat = [
        o.TokenProb(token=text, id=i, prob=p)
        for text, i, p in zip(texts, ids.flatten().tolist(), probs.flatten().tolist(), strict=True)
    ]
    width = ids.shape[-1]
    return [flat[r * width : (r + 1) * width] for r in range(ids.shape[0])]


def top_k(context: RunContext, args: o.TopKArgs) -> o.TopKResult:
    """The top k per position; with interventions, each listed token's clean probability too."""
    rows = _top_k(context, context.logits, context.log_normalizer, args.k)
    if context.clean is context:
        return o.TopKResult(top_k=rows)
    clean = context.clean
    ids = torch.tensor([[t.id for t in row] for row in rows])  # [pos, k]
    with torch.inference_mode():
        picked = clean.logits.gather(-1, ids).float()
        clean_probs = (picked - clean.log_normalizer[:, None]).exp()
    return o.TopKResult(top_k=rows, clean_probs=clean_probs.tolist())


def loss(context: RunContext, args: o.LossArgs) -> o.LossResult:
    """Cross-entropy of each next token: log-normalizer minus the next token's logit."""
    following = context.tokens[0, 1:]
    with torch.inference_mode():
        picked = context.logits[:-1].gather(-1, following[:, None])[:, 0].float()
        values = context.log_normalizer[:-1] - picked
    return o.LossResult(loss=values.tolist())


def scale_hook(graph: GraphSpec) -> str | None:
    """The final norm's scale hook, when the model has one."""
    return graph.node("ln_final").hooks.get("scale") if graph.has("ln_final") else None


def _dla_hooks(graph: GraphSpec) -> list[str]:
    """Every layer's z, and the final norm's scale when the model has one."""
    z = [graph.node(f"L{layer}.attn").hooks["z"] for layer in range(graph.n_layers)]
    scale = scale_hook(graph)
    return [*z, *([scale] if scale else [])]


@dataclass(frozen=True)
class Readout:
    """The final norm at one position, read as linear with that position's own scale.

    The final norm is linear once its scale is fixed: ln_final(x) = (x - mean(x)) / scale * w + b
    (no centering for RMSNorm). So with the run's scale at a position, the residual stream's
    components add up to the logit:  logit[t] = sum_c  center(c) . (w * W_U[:, t]) / scale
    + b . W_U[:, t] + b_U[t], where c runs over embed, pos_embed, every head (z_h @ W_O[h]), every
    attention bias b_O and every MLP output. ``direction`` is w * W_U[:, t] (centered for
    LayerNorm: center(c) . d == c . center(d)), or the difference of two tokens' directions.
    """

    direction: torch.Tensor  # [d_model]
    scale: torch.Tensor  # []


def readout(context: RunContext, position: int, ids: list[int]) -> Readout:
    """The readout of ``ids[0]``'s logit (minus ``ids[1]``'s, given two) at ``position``."""
    hook = scale_hook(context.graph)
    with torch.inference_mode():
        scale = context.act(hook)[position, 0] if hook else torch.tensor(1.0)
        direction = context.adapter.logit_direction(ids[0])
        if len(ids) == 2:
            direction = direction - context.adapter.logit_direction(ids[1])
    return Readout(direction, scale)


def contribution(vectors: torch.Tensor, read: Readout) -> torch.Tensor:
    """What residual-stream vectors [..., d_model] add to ``read``'s logit: [...]. Head DLA and
    the residual stream tool both decompose through this."""
    with torch.inference_mode():
        return (vectors @ read.direction / read.scale).float()


def head_vectors(context: RunContext, z: torch.Tensor, layer: int) -> torch.Tensor:
    """What each head of ``layer`` writes into the stream, z_h @ W_O[h]: [head, d_model] from its
    z [head, d_head] at one position."""
    with torch.inference_mode():
        return torch.einsum("hd,hdm->hm", z, context.adapter.w_o()[layer])


def dla_label(context: RunContext, ids: list[int]) -> str:
    return " - ".join(f"logit({text!r})" for text in context.adapter.decode(ids))


def head_dla(context: RunContext, args: o.HeadDlaArgs) -> o.HeadDlaResult:
    """Direct logit attribution of every head at the last position to the top token's logit (this
    run's top token), or (``by_metric``) to the session metric's: the logit difference of its two
    tokens, the logit of its loss's token, or for top_prob also this run's top token. Each head's
    term is ``contribution`` of its z_h @ W_O[h] (see ``Readout``): [layer][head]."""
    hooks = _dla_hooks(context.graph)
    acts = context.acts_of(hooks)
    chosen = context.metric if args.by_metric else TopProb()
    if isinstance(chosen, TopProb):
        ids = [int(context.logits[-1].argmax())]
    else:
        ids = metric_token_ids(context, chosen)
    read = readout(context, -1, ids)
    z = hooks[: context.graph.n_layers]
    dla = contribution(
        torch.stack([head_vectors(context, acts[h][-1], i) for i, h in enumerate(z)]), read
    )
    return o.HeadDlaResult(
        head_dla=dla.tolist(),
        dla_token=token_probs(context, ids[:1])[0],
        dla_label=dla_label(context, ids),
    )


TOP_K = Tool(contracts.TOP_K, compute=top_k)
LOSS = Tool(contracts.LOSS, compute=loss)
HEAD_DLA = Tool(contracts.HEAD_DLA, compute=head_dla, hooks=_dla_hooks)
