"""``session.show_saved(saved)``: put what a trace saved on the canvas as a saved run.

    with session.trace("The capital of France is", remote=True) as tr:
        saved = tr.save_for_canvas()  # tokens, residuals, patterns, logits: last in the block
    session.show_saved(saved, name="NDIF run")

``saved`` maps names to values: ``"tokens"`` (ids [1, pos]), ``"logits"`` ([1, pos, d_vocab]) and
TransformerLens hook names (``blocks.L.hook_resid_pre`` / ``_mid`` / ``_post`` [1, pos, d_model],
``blocks.L.attn.hook_pattern`` [1, head, query, key]); the batch dimension may be left out. It is
all checked and read before anything changes: the next token's top-k from the logits, each
residual through the live model's final norm and unembedding (the lens's own code), and the
patterns kept for the ``saved_run`` tool. Then the state names the run (``saved_run``).
"""

from __future__ import annotations

import uuid
import weakref
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch

from transpector.errors import TranspectorError
from transpector.kernel.adapter import ModelAdapter
from transpector.kernel.saved_values import RESID_NODE, Values, check_values
from transpector.kernel.tools.lens import lens_result, window
from transpector.protocol import saved_run as p
from transpector.protocol.graph import GraphSpec
from transpector.protocol.lens import LogitLens
from transpector.protocol.outputs import TokenProb
from transpector.protocol.state import SessionState


@dataclass(frozen=True)
class Published:
    run: p.SavedRun
    patterns: dict[int, torch.Tensor]  # layer -> [head, query, key], float32 on the CPU


_published: weakref.WeakKeyDictionary[Any, Published] = weakref.WeakKeyDictionary()  # by model


def published(adapter: ModelAdapter) -> Published | None:
    """The saved run the session of ``adapter`` shows, if any."""
    return _published.get(adapter.model)


class SavedRunMethods:
    """Mixed into Session, which provides the model's adapter, graph, tokens and change path."""

    graph: GraphSpec
    _state: SessionState

    @property
    def adapter(self) -> ModelAdapter:
        raise NotImplementedError

    def _tokens(self, prompt: str) -> torch.Tensor:
        raise NotImplementedError

    def _change(self, op: str, detail: dict[str, Any], **fields: Any) -> None:
        raise NotImplementedError

    def _forget_saved(self) -> None:
        _published.pop(self.adapter.model, None)

    def show_saved(
        self, saved: Mapping[str, Any], name: str = "saved run", prompt: str | None = None
    ) -> p.SavedRun:
        """Show ``saved`` (what ``tr.save_for_canvas()`` returns, or any dict of saved values by
        hook name, with ``"tokens"`` and ``"logits"``) on the canvas's Saved run card: its
        top-k, its logit lens read through this model's weights, its attention patterns.
        ``prompt`` gives the tokens when ``"tokens"`` was not saved. A value of the wrong shape
        or a name that is no hook point is refused, and the canvas keeps what it showed."""
        if not isinstance(name, str) or not name.strip() or len(name) > 80:
            raise TranspectorError(f"name is a short text (1 to 80 characters), not {name!r}")
        given = None if prompt is None else self._tokens(prompt)[0]
        values = check_values(saved, self.graph, self.adapter.hook_names, given)
        run = read_run(self.adapter, self.graph, values, name)
        patterns = {layer: v.float().cpu() for layer, v in values.patterns.items()}
        _published[self.adapter.model] = Published(run, patterns)  # kept across moves
        info = p.SavedRunInfo(name=name, id=run.id, n_tokens=len(run.tokens))
        self._change("show_saved", {"name": name}, saved_run=info)
        return run


def read_run(adapter: ModelAdapter, graph: GraphSpec, values: Values, name: str) -> p.SavedRun:
    ids = values.tokens
    return p.SavedRun(
        name=name,
        id=uuid.uuid4().hex[:12],
        tokens=adapter.str_tokens(ids),
        token_ids=ids.tolist(),
        top_k=next_top_k(adapter, values.logits) if values.logits is not None else [],
        lens=saved_lens(adapter, graph, values.resids, len(ids)) if values.resids else None,
        attention_layers=sorted(values.patterns),
        n_heads=graph.n_heads,
        saved=values.names,
        not_shown=values.not_shown,
    )


def next_top_k(adapter: ModelAdapter, logits: torch.Tensor) -> list[TokenProb]:
    """The SAVED_TOP_K most likely next tokens at the last position of ``logits`` [pos, vocab]."""
    with torch.inference_mode():
        last = logits[-1].float()
        values, ids = last.topk(min(p.SAVED_TOP_K, last.shape[-1]))
        probs = (values - last.logsumexp(-1)).exp()
    texts = adapter.decode(ids.tolist())
    return [
        TokenProb(token=t, id=i, prob=q)
        for t, i, q in zip(texts, ids.tolist(), probs.tolist(), strict=True)
    ]


def saved_lens(
    adapter: ModelAdapter, graph: GraphSpec, resids: dict[str, torch.Tensor], n_pos: int
) -> LogitLens:
    """Each saved residual row [pos, d_model] read through the final norm and unembedding at the
    lens's window of positions (the last LENS_WINDOW), as the live logit lens reads a run."""
    rows = [n.id for n in graph.nodes if RESID_NODE.match(n.id) and n.id in resids]
    positions = window(n_pos, None)
    weight = next(adapter.unembed().parameters())
    stack = torch.stack([resids[row][positions] for row in rows])  # [rows, positions, d_model]
    flat = stack.reshape(-1, stack.shape[-1]).to(device=weight.device, dtype=weight.dtype)
    ids, probs = adapter.lens_top1(flat)
    return lens_result(adapter, n_pos, rows, positions, ids, probs)
