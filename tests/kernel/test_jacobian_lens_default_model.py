"""The Jacobian lens on SmolLM2 in cells: a short fit of the last source layer (two prompts of
eight tokens) shows its progress bar, and the lens grid equals TransformerLens's own
``JacobianLens.readout`` on that fit; the last row is the model's own output (" Paris")."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from transpector.kernel.session import Session

pytestmark = pytest.mark.default_model
PROMPT = "The capital of France is"
TEXTS = [
    "The Eiffel Tower is in Paris, and the Colosseum is in Rome. Berlin is the capital of "
    "Germany, and Madrid is the capital of Spain."
]


def test_a_short_fit_on_smollm2_reads_as_tls_readout(
    default_model: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    monkeypatch.setenv("TRANSPECTOR_CACHE", str(tmp_path))
    session = Session(default_model)
    session.prompt = PROMPT
    info = session.fit_jacobian_lens(TEXTS, n_prompts=2, max_seq_len=8, source_layers=[-2],
                                     skip_first_positions=2)  # fmt: skip
    assert "fitting the Jacobian lens on 2 prompts" in capsys.readouterr().err
    assert (info.n_prompts, info.source_layers, info.rows) == (2, [28], ["L29.resid_pre"])

    grid = session.tools.logit_lens(kind="jacobian")
    assert grid.layers == ["L29.resid_pre", "L29.resid_post"]
    assert grid.no_transport == [f"L{layer}.resid_pre" for layer in range(29)]
    tokens = default_model.to_tokens(PROMPT)
    with torch.inference_mode():
        own = default_model(tokens)[0].argmax(-1)
    assert grid.token_ids[1] == own.tolist() and grid.tokens[1][-1] == " Paris"

    readout = session.jacobian_lens.readout(default_model, tokens, layers=[28], top_k=3)
    values, ids = readout.lens_topk_values[28], readout.lens_topk_indices[28]
    clear = (values[:, 0] - values[:, 1]) > 1e-3  # a near tie may fall either way
    assert clear.sum() >= len(clear) - 1
    assert torch.equal(torch.tensor(grid.token_ids[0])[clear], ids[clear, 0])
    cell = session.tools.lens_top_k(row="L29.resid_pre", position=-1, k=3, kind="jacobian")
    assert [t.id for t in cell.top_k] == ids[-1].tolist()
