"""MLP neurons: an MLP node's neurons ranked on the prompt, and one neuron's view (its
activations on the prompt, its top windows and histogram over a dataset, its logit effects);
see ``transpector/protocol/neurons.py``."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import torch

from transpector.errors import TranspectorError
from transpector.kernel import dataset_scan  # module: it imports tools.base itself
from transpector.kernel.adapter.scan import capture_until, neuron_logit_effects
from transpector.kernel.datasets import Dataset
from transpector.kernel.run_context import RunContext
from transpector.kernel.scan_cache import Entry
from transpector.kernel.targets import resolve
from transpector.kernel.tools.base import Steps, Tool
from transpector.protocol import neurons as n
from transpector.protocol import tools as contracts

if TYPE_CHECKING:
    from transpector.kernel.adapter import ModelAdapter
    from transpector.kernel.session import Session

HISTOGRAM_BINS = 64  # at most, shown


def mlp_neurons(context: RunContext, args: n.MlpNeuronsArgs) -> n.MlpNeuronsResult:
    graph = context.graph
    if not graph.has(args.node) or graph.node(args.node).kind != "mlp" or graph.d_mlp is None:
        raise TranspectorError(f"'{args.node}' is not an MLP node of this model")
    layer = int(args.node[1:].split(".")[0])
    hook = graph.node(args.node).hooks["post"]
    acts = context.act(hook).float()  # [pos, d_mlp]
    if args.position is None:
        values, positions = acts.max(0)
    else:
        if not -context.n_pos <= args.position < context.n_pos:
            raise TranspectorError(
                f"position {args.position} is outside the prompt's {context.n_pos} tokens"
            )
        at = args.position % context.n_pos
        values, positions = acts[at], torch.full((acts.shape[1],), at)
    top = values.topk(min(args.k, values.numel()))
    neurons = [
        n.RankedNeuron(
            neuron=f"L{layer}.mlp.N{i}", index=i, value=float(v), position=int(positions[i])
        )
        for v, i in zip(top.values.tolist(), top.indices.tolist(), strict=True)
    ]
    tokens = context.adapter.str_tokens(context.tokens[0])
    return n.MlpNeuronsResult(node=args.node, d_mlp=graph.d_mlp, tokens=tokens, neurons=neurons)


def neuron_view(session: Session, args: n.NeuronViewArgs) -> Steps:
    target = resolve(session.graph, args.neuron)
    assert target.layer is not None
    index = target.feature[0]
    adapter = session.adapter
    dataset = session.dataset_for(args.dataset)
    context = session.context()
    acts = context.act(target.hook)[:, index].float()
    effects = neuron_logit_effects(adapter, target.layer, index)
    entry = yield from dataset_scan.neuron_stats(adapter, dataset, target.hook)
    return n.NeuronViewResult(
        neuron=args.neuron,
        layer=target.layer,
        index=index,
        hook=target.hook,
        tokens=session.str_tokens(context),
        acts=acts.tolist(),
        top_logits=_tokens(adapter, effects, args.n_logits, largest=True),
        bottom_logits=_tokens(adapter, effects, args.n_logits, largest=False),
        dataset=dataset.info,
        contexts=_contexts(adapter, dataset, entry, target.hook, index, args.k),
        histogram=_histogram(entry, index, dataset.info.n_tokens),
    )


def _tokens(
    adapter: ModelAdapter, effects: torch.Tensor, k: int, largest: bool
) -> list[n.TokenValue]:
    top = effects.topk(min(k, effects.numel()), largest=largest)
    ids = top.indices.tolist()
    texts = adapter.decode(ids)
    return [
        n.TokenValue(token=t, id=i, value=v)
        for t, i, v in zip(texts, ids, top.values.tolist(), strict=True)
    ]


def _contexts(
    adapter: ModelAdapter,
    dataset: Dataset,
    entry: Entry,
    hook: str,
    index: int,
    k: int,
    read: Callable[[torch.Tensor], torch.Tensor] = lambda acts: acts,
) -> list[n.NeuronContext]:
    """The neuron's top ``k`` windows, each with its activation at every token (one forward of
    those windows); ``read`` turns the hook's activation into the units ranked (for latents:
    the autoencoder's encoding)."""
    windows = entry["windows"][:k, index].tolist()
    tokens = dataset.windows_at(windows)  # [k, window]
    acts = read(capture_until(adapter, tokens, hook))[:, :, index].float().cpu()
    return [
        n.NeuronContext(
            window=w,
            tokens=adapter.str_tokens(tokens[j]),
            acts=acts[j].tolist(),
            max_position=int(entry["positions"][j, index]),
            max_value=float(entry["values"][j, index]),
        )
        for j, w in enumerate(windows)
    ]


def _histogram(entry: Entry, index: int, n_tokens: int) -> n.NeuronHistogram:
    """The neuron's bins from its first to its last non-empty one, merged so that at most
    ``HISTOGRAM_BINS`` remain."""
    counts = entry["counts"][index]
    inner = counts[1:-1]
    edges = entry["edges"]
    filled = inner.nonzero().flatten()
    first, last = (int(filled[0]), int(filled[-1])) if filled.numel() else (0, 0)
    span = inner[first : last + 1]
    group = -(-span.numel() // HISTOGRAM_BINS)
    padded = torch.cat([span, span.new_zeros(-span.numel() % group)])
    width = float(edges[1] - edges[0])
    return n.NeuronHistogram(
        lo=float(edges[first]),
        width=width * group,
        counts=padded.reshape(-1, group).sum(1).tolist(),
        below=int(counts[0]),
        above=int(counts[-1]),
        density=int(entry["positive"][index]) / max(n_tokens, 1),
    )


MLP_NEURONS = Tool(contracts.MLP_NEURONS, compute=mlp_neurons)
NEURON_VIEW = Tool(contracts.NEURON_VIEW, steps=neuron_view)
