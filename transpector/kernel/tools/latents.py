"""Autoencoder latents of an MLP or residual node: ranked on the prompt, and one latent's
dashboard through the neuron view's own code paths (the dataset scan and its statistics, top
windows, histogram, logit effects); see ``transpector/protocol/latents.py``."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from transpector.errors import TranspectorError
from transpector.kernel import dataset_scan  # module: it imports tools.base itself
from transpector.kernel.adapter.scan import direction_logit_effects
from transpector.kernel.targets import resolve
from transpector.kernel.tools.base import Steps, Tool
from transpector.kernel.tools.neurons import _contexts, _histogram, _tokens
from transpector.protocol import latents as lt
from transpector.protocol import tools as contracts

if TYPE_CHECKING:
    from transpector.kernel.sae.model import SparseAutoencoder
    from transpector.kernel.session import Session


def latents(session: Session, args: lt.LatentsArgs) -> Steps:
    hook = resolve(session.graph, args.node).hook
    context = session.context()
    tokens = session.str_tokens(context)
    sae = session.saes.get(hook)
    if sae is None:
        return lt.LatentsResult(node=args.node, hook=hook, loaded=False, d_sae=0,
                                tokens=tokens, latents=[])  # fmt: skip
        yield  # a generator: the view below yields progress
    with torch.no_grad():
        acts = sae.encode(context.act(hook).float())  # [pos, d_sae]
    result = lt.LatentsResult(
        node=args.node, hook=hook, loaded=True, d_sae=sae.d_sae, architecture=sae.architecture,
        tokens=tokens, latents=_ranked(acts, args, context.n_pos),
    )  # fmt: skip
    if args.latent is None:
        return result
    if args.latent >= sae.d_sae:
        raise TranspectorError(f"latent {args.latent} is out of range: {sae.d_sae} latents")
    view = yield from _view(session, sae, hook, acts, args)
    return result.model_copy(update={"view": view})


def _ranked(acts: torch.Tensor, args: lt.LatentsArgs, n_pos: int) -> list[lt.RankedLatent]:
    if args.position is None:
        values, positions = acts.max(0)
    else:
        if not -n_pos <= args.position < n_pos:
            raise TranspectorError(
                f"position {args.position} is outside the prompt's {n_pos} tokens"
            )
        at = args.position % n_pos
        values, positions = acts[at], torch.full((acts.shape[1],), at)
    top = values.topk(min(args.k, values.numel()))
    return [
        lt.RankedLatent(latent=i, value=float(v), position=int(positions[i]))
        for v, i in zip(top.values.tolist(), top.indices.tolist(), strict=True)
        if v > 0
    ]


def _view(
    session: Session, sae: SparseAutoencoder, hook: str, acts: torch.Tensor, args: lt.LatentsArgs
) -> Steps:
    assert args.latent is not None
    adapter = session.adapter
    dataset = session.dataset_for(args.dataset)

    def encode(x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return sae.encode(x.float())

    entry = yield from dataset_scan.neuron_stats(adapter, dataset, hook, encode, _digest(sae))
    effects = direction_logit_effects(adapter, sae.W_dec[args.latent])
    return lt.LatentView(
        latent=args.latent,
        acts=acts[:, args.latent].tolist(),
        top_logits=_tokens(adapter, effects, args.n_logits, largest=True),
        bottom_logits=_tokens(adapter, effects, args.n_logits, largest=False),
        dataset=dataset.info,
        contexts=_contexts(adapter, dataset, entry, hook, args.latent, args.contexts, encode),
        histogram=_histogram(entry, args.latent, dataset.info.n_tokens),
    )


def _digest(sae: SparseAutoencoder) -> str:
    return "sae " + sae.digest()


LATENTS = Tool(contracts.LATENTS, steps=latents)
