"""The logit lens tools against plain torch on the weights: final norm, unembedding, softmax."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from transpector.errors import TranspectorError
from transpector.kernel import adapter
from transpector.kernel.adapter.tokens import TokenTexts
from transpector.kernel.session import Session
from transpector.kernel.tools.lens import lens_rows, window
from transpector.protocol.lens import LENS_WINDOW, LensTopKResult, LogitLens


def plain_lens(model: Any, prompt: str, hook: str) -> torch.Tensor:
    """Softmax of unembed(ln_final(resid)) at every position, from TransformerLens's cache."""
    with torch.inference_mode():
        _, cache = model.run_with_cache(prompt)
        resid = cache[hook][0]
        norm, unembed = model.ln_final.original_component, model.unembed.original_component
        return unembed(norm(resid)).float().softmax(-1)


@pytest.mark.parametrize("vocab_slice", [4096, 50])  # one slice of the vocabulary, or six
def test_lens_grid_equals_plain_torch(
    session: Session, tiny_model: Any, monkeypatch: pytest.MonkeyPatch, vocab_slice: int
) -> None:
    monkeypatch.setattr(adapter, "VOCAB_SLICE", vocab_slice)
    lens = session.call("logit_lens", positions=[1, -1, 3])
    assert isinstance(lens, LogitLens)
    n = len(session.run(lens=False).tokens)
    assert lens.positions == [1, 3, n - 1] and lens.n_tokens == n
    assert lens.layers == lens_rows(session.graph)
    for r, row in enumerate(lens.layers):
        probs = plain_lens(tiny_model, session.prompt, session.graph.node(row).hooks["out"])
        best, ids = probs[lens.positions].max(-1)
        assert lens.token_ids[r] == ids.tolist()
        assert lens.probs[r] == pytest.approx(best.tolist(), abs=1e-6)
        decoded = [tiny_model.tokenizer.decode([i]) for i in ids.tolist()]
        # A byte that is part of a character reads <0x..> (adapter/tokens.py, test_tokens.py).
        assert lens.tokens[r] == TokenTexts(tiny_model.tokenizer).shown(ids.tolist(), decoded)


def test_a_cell_top_k_equals_plain_torch(session: Session, tiny_model: Any) -> None:
    cell = session.call("lens_top_k", row="L1.resid_pre", position=-2, k=4)
    assert isinstance(cell, LensTopKResult)
    probs = plain_lens(tiny_model, session.prompt, "blocks.1.hook_resid_pre")[-2]
    values, ids = probs.topk(4)
    assert [t.id for t in cell.top_k] == ids.tolist()
    assert [t.prob for t in cell.top_k] == pytest.approx(values.tolist(), abs=1e-6)


def test_a_run_computes_the_last_window_of_positions() -> None:
    assert window(10, None) == list(range(10))
    assert window(400, None) == list(range(400 - LENS_WINDOW, 400))
    assert window(400, [-1, 0, 0, 5]) == [0, 5, 399]


def test_positions_out_of_range_say_so(session: Session) -> None:
    with pytest.raises(TranspectorError, match=r"positions \[99\] out of range"):
        session.call("logit_lens", positions=[99])


def test_the_clean_runs_lens_is_kept_with_it(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    computed = session.adapter.lens_top1_parts
    calls: list[int] = []

    def counted(resid: Any) -> Any:
        calls.append(1)
        return computed(resid)

    monkeypatch.setattr(session.adapter, "lens_top1_parts", counted)
    first = session.call("logit_lens")
    spec = session.ablate("L0.H1")
    session.call("logit_lens")  # its own lens; the clean one is kept
    session.remove(spec.id)
    again = session.call("logit_lens")  # back to clean: kept, nothing computed
    assert len(calls) == 2 and again == first
