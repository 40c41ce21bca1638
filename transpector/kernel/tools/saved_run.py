"""The saved run a cell showed (``session.show_saved``): its tokens, top-k and lens as they were
read then, and one head's saved attention pattern when ``layer`` is given."""

from __future__ import annotations

from transpector.errors import TranspectorError
from transpector.kernel.run_context import RunContext
from transpector.kernel.saved_run import published
from transpector.kernel.tools.base import Tool
from transpector.protocol import saved_run as p
from transpector.protocol import tools as contracts


def saved_run(context: RunContext, args: p.SavedRunArgs) -> p.SavedRunResult:
    shown = published(context.adapter)
    if shown is None:
        return p.SavedRunResult()
    run = shown.run
    if args.layer is None:
        return p.SavedRunResult(run=run)
    if args.layer not in shown.patterns:
        layers = ", ".join(map(str, run.attention_layers)) or "none"
        raise TranspectorError(
            f"no attention pattern of layer {args.layer} was saved (saved layers: {layers})"
        )
    if args.head >= run.n_heads:
        raise TranspectorError(f"no head {args.head}: layer {args.layer} has {run.n_heads}")
    if len(run.tokens) > p.MAX_ATTENTION_TOKENS:
        raise TranspectorError(
            f"attention is sent for prompts up to {p.MAX_ATTENTION_TOKENS} tokens; this one has "
            f"{len(run.tokens)}: read it from the saved values in a cell"
        )
    pattern = shown.patterns[args.layer][args.head].tolist()
    return p.SavedRunResult(
        run=run, attention=p.SavedAttention(layer=args.layer, head=args.head, pattern=pattern)
    )


SAVED_RUN = Tool(contracts.SAVED_RUN, compute=saved_run)
