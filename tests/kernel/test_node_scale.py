"""A LayerNorm or RMSNorm node shows its scale per position: what it divides the residual by,
checked against the residual it reads (plain torch)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from tests.conftest import boot_tiny
from transpector.errors import TranspectorError
from transpector.kernel.session import Session

READS = {"L0.ln1": "blocks.0.hook_resid_pre", "L1.ln2": "blocks.1.hook_resid_mid",
         "ln_final": "blocks.1.hook_resid_post"}  # fmt: skip


@pytest.mark.parametrize("normalization", ["LN", "RMS"])
def test_a_norm_node_shows_its_scale(tmp_path: Path, normalization: str) -> None:
    model = boot_tiny(tmp_path, normalization_type=normalization)
    session = Session(model)
    session.prompt = "hello world"
    session.ablate("L0.H1")  # the scale of the run the canvas shows, interventions and all
    with session.applied() as hooked, torch.inference_mode():
        _, cache = hooked.run_with_cache(model.to_tokens(session.prompt))
    for node, hook in READS.items():
        assert session.graph.node(node).shows == "scale"
        x = cache[hook][0].float()
        if normalization == "LN":
            x = x - x.mean(-1, keepdim=True)
        expected = (x.pow(2).mean(-1) + model.cfg.eps).sqrt()
        assert torch.allclose(session.node_data(node), expected, atol=1e-5), node


def test_only_norm_nodes_have_a_scale(session: Session) -> None:
    with pytest.raises(TranspectorError, match="only norm nodes"):
        session.node_data("L0.mlp", "scale")
