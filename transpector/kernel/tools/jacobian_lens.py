"""The Jacobian lens on the lens grid (``logit_lens`` with ``kind="jacobian"``) and its fit
(``fit_jacobian_lens``, a long tool); see ``transpector/protocol/jacobian_lens.py``.

The lens reads the run's residuals (interventions applied, like the logit lens), moves each row
through its transport matrix, then through the final norm and the unembedding. Each cell also
carries the logit lens's top-1 of the same run, so the card marks where the two disagree.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import TYPE_CHECKING, Any

import torch

from transpector.errors import TranspectorError
from transpector.kernel import jacobian_fit
from transpector.kernel.adapter import jacobian as tl
from transpector.kernel.run_context import RunContext
from transpector.kernel.targets import check_positions
from transpector.kernel.tools.base import Steps, Tool
from transpector.kernel.tools.lens import clean_lens_parts, lens_result, lens_rows
from transpector.protocol import jacobian_lens as j
from transpector.protocol import lens as p
from transpector.protocol import tools as contracts
from transpector.protocol.graph import GraphSpec

if TYPE_CHECKING:
    from transpector.kernel.session import Session

NO_TRANSPORT = "has no transport matrix: it is the embeddings, no block's output"


def transports(graph: GraphSpec, source_layers: list[int]) -> dict[str, int | None]:
    """Each lens row the Jacobian lens reads, with its TL source layer (None: the identity,
    the last row). ``L{l}.resid_pre`` is block ``l-1``'s output."""
    n = graph.n_layers
    rows: dict[str, int | None] = {f"L{i}.resid_pre": i - 1 for i in range(1, n)}
    rows = {row: layer for row, layer in rows.items() if layer in source_layers}
    rows[f"L{n - 1}.resid_post"] = None
    return rows


def _moved(lens: Any, layer: int | None, resid: torch.Tensor) -> torch.Tensor:
    if layer is None:
        return resid
    with torch.inference_mode():
        return tl.transport(lens, resid, layer).to(resid.dtype)


def jacobian_lens_parts(
    context: RunContext, positions: list[int]
) -> Generator[None, None, p.LogitLens]:
    held = jacobian_fit.require(context.adapter)
    graph = context.graph
    rows = transports(graph, tl.source_layers(held.lens))
    names = list(rows)
    hooks = [graph.node(row).hooks["out"] for row in names]
    acts = context.acts_of(hooks)
    moved = [
        _moved(held.lens, rows[row], acts[hook][positions])
        for row, hook in zip(names, hooks, strict=True)
    ]
    stack = torch.stack(moved)  # [rows, positions, d_model]
    ids, probs = yield from context.adapter.lens_top1_parts(stack.reshape(-1, stack.shape[-1]))
    logit = yield from clean_lens_parts(context, positions)  # the logit lens of this same run
    at = [logit.layers.index(row) for row in names]
    return lens_result(
        context.adapter,
        context.n_pos,
        names,
        positions,
        ids,
        probs,
        kind="jacobian",
        no_transport=[row for row in lens_rows(graph) if row not in rows],
        logit_token_ids=[logit.token_ids[r] for r in at],
        logit_tokens=[logit.tokens[r] for r in at],
        jacobian=held.info,
    )


def jacobian_cell_logits(context: RunContext, row: str, position: int) -> torch.Tensor:
    """One cell of the Jacobian lens as logits [1, d_vocab]."""
    held = jacobian_fit.require(context.adapter)
    rows = transports(context.graph, tl.source_layers(held.lens))
    if row not in rows:
        raise TranspectorError(f"the Jacobian lens has no row '{row}': {row} {NO_TRANSPORT}")
    check_positions([position], context.n_pos, row)
    resid = context.act(context.graph.node(row).hooks["out"])[position]
    moved = _moved(held.lens, rows[row], resid)
    with torch.inference_mode():
        return context.adapter.lens_logits(moved)[None]


def fit_jacobian_lens(session: Session, args: j.FitJacobianLensArgs) -> Steps:
    """The prompts are windows of ``max_seq_len`` tokens of the dataset's texts."""
    spec = session.dataset_for(args.dataset).spec
    dataset = session.dataset_for(spec.model_copy(update={"window": args.max_seq_len}))
    info = yield from jacobian_fit.fit_steps(session.adapter, dataset, args)
    return info


FIT_JACOBIAN_LENS = Tool(contracts.FIT_JACOBIAN_LENS, steps=fit_jacobian_lens)
