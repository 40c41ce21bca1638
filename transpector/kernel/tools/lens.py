"""The logit lens: every layer's residual read as the model's output (final norm, unembedding).

A run computes the lens for a window of positions (the last ``LENS_WINDOW``) after its outputs
are out; other positions and one cell's full top-k are asked for on demand.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import torch

from transpector.errors import TranspectorError
from transpector.kernel.adapter import ModelAdapter
from transpector.kernel.run_context import RunContext
from transpector.kernel.targets import check_positions
from transpector.kernel.tools.base import Parts, Tool, run_parts
from transpector.kernel.tools.outputs import top_k_of
from transpector.protocol import lens as p
from transpector.protocol import tools as contracts
from transpector.protocol.graph import GraphSpec


def lens_rows(graph: GraphSpec) -> list[str]:
    """The lens's rows: resid_pre of every layer, then the last resid_post."""
    n = graph.n_layers
    return [f"L{layer}.resid_pre" for layer in range(n)] + [f"L{n - 1}.resid_post"]


def _row_hooks(graph: GraphSpec) -> list[str]:
    return [graph.node(row).hooks["out"] for row in lens_rows(graph)]


def window(n_pos: int, positions: list[int] | None) -> list[int]:
    """The ascending positions to compute: the given ones (negative count from the end), else
    the last ``LENS_WINDOW``."""
    if positions is None:
        return list(range(max(0, n_pos - p.LENS_WINDOW), n_pos))
    check_positions(positions, n_pos, "the logit lens")
    return sorted({q % n_pos for q in positions})


def logit_lens_parts(context: RunContext, args: p.LogitLensArgs) -> Parts:
    """The lens, yielding after each slice of the vocabulary (about 40 ms of SmolLM2's
    unembedding at 20 positions): the dispatcher lets a newer edit in there and drops this stale
    lens instead of making the edit wait for the whole vocabulary's matmuls. With interventions,
    each cell also carries the clean run's top-1; the clean run's lens is kept with that run, so
    a state that goes back to clean, or edits on top of it, do not compute it again."""
    positions = window(context.n_pos, args.positions)
    if args.kind == "jacobian":
        from transpector.kernel.tools.jacobian_lens import jacobian_lens_parts

        return (yield from jacobian_lens_parts(context, positions))
    if context.clean is context:
        return (yield from clean_lens_parts(context, positions))
    lens = yield from _lens_parts(context, positions)
    clean = yield from clean_lens_parts(context.clean, positions)
    return lens.model_copy(
        update={
            "clean_token_ids": clean.token_ids,
            "clean_tokens": clean.tokens,
            "clean_probs": clean.probs,
        }
    )


def clean_lens_parts(clean: RunContext, positions: list[int]) -> Generator[None, None, p.LogitLens]:
    """The clean run's lens at ``positions``, kept with that run."""
    key = f"lens:{positions}"
    if key not in clean.memo:
        clean.memo[key] = yield from _lens_parts(clean, positions)
    kept: p.LogitLens = clean.memo[key]
    return kept


def _lens_parts(context: RunContext, positions: list[int]) -> Generator[None, None, p.LogitLens]:
    rows, hooks = lens_rows(context.graph), _row_hooks(context.graph)
    acts = context.acts_of(hooks)
    stack = torch.stack([acts[h][positions] for h in hooks])  # [rows, positions, d_model]
    ids, probs = yield from context.adapter.lens_top1_parts(stack.reshape(-1, stack.shape[-1]))
    return lens_result(context.adapter, context.n_pos, rows, positions, ids, probs)


def lens_result(
    adapter: ModelAdapter,
    n_pos: int,
    rows: list[str],
    positions: list[int],
    ids: torch.Tensor,
    probs: torch.Tensor,
    **more: Any,
) -> p.LogitLens:
    """A lens grid from its top-1 ids and probabilities [rows * positions], row-major."""
    width = len(positions)
    id_rows: list[list[int]] = ids.reshape(len(rows), width).tolist()
    texts = adapter.decode([i for row in id_rows for i in row])
    return p.LogitLens(
        layers=rows,
        positions=positions,
        n_tokens=n_pos,
        token_ids=id_rows,
        tokens=[texts[r * width : (r + 1) * width] for r in range(len(rows))],
        probs=probs.reshape(len(rows), width).tolist(),
        **more,
    )


def logit_lens(context: RunContext, args: p.LogitLensArgs) -> p.LogitLens:
    result = run_parts(logit_lens_parts(context, args))
    assert isinstance(result, p.LogitLens)
    return result


def lens_top_k(context: RunContext, args: p.LensTopKArgs) -> p.LensTopKResult:
    """The k most likely tokens of one lens cell: ``row``'s residual at ``position``."""
    rows = lens_rows(context.graph)
    if args.row not in rows:
        raise TranspectorError(
            f"'{args.row}' is not a logit lens row; rows are {rows[0]} ... {rows[-1]}"
        )
    if args.kind == "jacobian":
        from transpector.kernel.tools.jacobian_lens import jacobian_cell_logits

        logits = jacobian_cell_logits(context, args.row, args.position)
    else:
        resid = context.act(context.graph.node(args.row).hooks["out"])
        check_positions([args.position], context.n_pos, args.row)
        with torch.inference_mode():
            logits = context.adapter.lens_logits(resid[args.position])[None]
    top = top_k_of(context, logits, args.k)[0]
    return p.LensTopKResult(row=args.row, position=args.position, top_k=top)


LOGIT_LENS = Tool(
    contracts.LOGIT_LENS, compute=logit_lens, parts=logit_lens_parts, hooks=_row_hooks
)
LENS_TOP_K = Tool(contracts.LENS_TOP_K, compute=lens_top_k)
