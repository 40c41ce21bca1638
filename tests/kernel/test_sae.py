"""Sparse autoencoders trained on the tiny model: the report's held-out FVU, L0 and dead latents
against a plain-torch recomputation (activations from TransformerLens's own cache on windows cut
by hand, the encoder written out from the saved tensors), the files in sae-lens's layout and
names, progress and cancel, and bad input."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import load_file

from tests.kernel.test_datasets import _cache, windows_by_hand
from tests.kernel.test_neurons import TEXTS
from transpector.errors import TranspectorError
from transpector.kernel.sae.model import SparseAutoencoder, load_sae
from transpector.kernel.sae.training import TrainSettings, train_steps
from transpector.kernel.session import Session
from transpector.kernel.tools.base import Cancelled

__all__ = ["_cache"]
HOOK = "blocks.1.hook_resid_post"


def by_hand(tensors: dict[str, torch.Tensor], x: torch.Tensor, k: int | None) -> torch.Tensor:
    """Latents of ``x`` from the saved tensors: topk of the pre-activations, then ReLU."""
    pre = (x - tensors["b_dec"]) @ tensors["W_enc"] + tensors["b_enc"]
    if k is None:
        return pre.clamp_min(0)
    keep = torch.zeros_like(pre, dtype=torch.bool)
    keep.scatter_(-1, pre.topk(k, dim=-1).indices, True)
    return torch.where(keep, pre.clamp_min(0), torch.zeros_like(pre))


def resid(model: Any, windows: list[list[int]]) -> torch.Tensor:
    with torch.inference_mode():
        _, cache = model.run_with_cache(torch.tensor(windows), names_filter=[HOOK])
    return cache[HOOK][:, 1:].reshape(-1, 64).float()  # each window's BOS left out


@pytest.mark.parametrize("architecture,k", [("topk", 8), ("standard", None)])
def test_report_equals_a_plain_torch_recomputation_on_held_out_windows(
    session: Session, tiny_model: Any, tmp_path: Path, architecture: str, k: int | None
) -> None:
    session.set_dataset(TEXTS, window=16)
    sae = session.train_sae(
        HOOK, 128, k, architecture=architecture, epochs=2,  # type: ignore[arg-type]
        heldout=0.2, path=tmp_path / "sae", l1=0.5,
    )  # fmt: skip
    report = sae.report
    assert report is not None
    windows = windows_by_hand(tiny_model.tokenizer, TEXTS, 16)
    n_held = round(len(windows) * 0.2)
    held, everything = resid(tiny_model, windows[-n_held:]), resid(tiny_model, windows)
    tensors = load_file(str(tmp_path / "sae" / "sae_weights.safetensors"))
    latents = by_hand(tensors, held, k)
    recon = latents @ tensors["W_dec"] + tensors["b_dec"]
    fvu = float((recon - held).pow(2).sum() / (held - held.mean(0)).pow(2).sum())
    assert report.fvu == pytest.approx(fvu, rel=1e-4)
    assert 0 < report.fvu < 1  # it learned something in two epochs
    assert report.l0 == pytest.approx(float((latents > 0).sum(-1).float().mean()), rel=1e-6)
    dead = int((by_hand(tensors, everything, k) > 0).sum(0).eq(0).sum())
    assert report.dead_latents == dead
    assert (report.heldout_tokens, report.train_tokens) == (
        n_held * 15,
        (len(windows) - n_held) * 15,
    )
    assert report.tokens_per_s > 0 and report.architecture == architecture


def test_files_use_sae_lens_names_and_load_back(session: Session, tmp_path: Path) -> None:
    session.set_dataset(TEXTS, window=16)
    sae = session.train_sae(HOOK, 96, 4, epochs=1, path=tmp_path / "a")
    cfg = json.loads((tmp_path / "a" / "cfg.json").read_text())
    assert {k: cfg[k] for k in ("architecture", "d_in", "d_sae", "k", "dtype")} == {
        "architecture": "topk", "d_in": 64, "d_sae": 96, "k": 4, "dtype": "float32",
    }  # fmt: skip
    assert cfg["metadata"]["hook_name"] == HOOK and cfg["metadata"]["context_size"] == 16
    assert cfg["apply_b_dec_to_input"] is True and cfg["normalize_activations"] == "none"
    tensors = load_file(str(tmp_path / "a" / "sae_weights.safetensors"))
    assert {n: list(t.shape) for n, t in tensors.items()} == {
        "W_enc": [64, 96], "b_enc": [96], "W_dec": [96, 64], "b_dec": [64],
    }  # fmt: skip
    loaded = load_sae(tmp_path / "a")
    for name, value in sae.state_dict().items():
        assert torch.equal(loaded.state_dict()[name], value)
    assert (loaded.hook_name, loaded.k, loaded.report) == (HOOK, 4, sae.report)
    x = torch.randn(5, 64)
    assert torch.equal(loaded.encode(x), sae.encode(x))


def test_training_reports_progress_and_a_cancel_leaves_no_hook(
    session: Session, tiny_model: Any
) -> None:
    session.set_dataset(TEXTS * 4, window=8)
    dataset = session.dataset_for(None)
    steps = train_steps(session.adapter, dataset, HOOK, TrainSettings(latents=32, k=4))
    seen = [next(steps) for _ in range(3)]
    assert seen[0].done == 0 and seen[0].total == dataset.info.n_windows
    assert seen[2].done > seen[1].done > 0
    with pytest.raises(Cancelled):
        steps.throw(Cancelled())
    assert all(len(p.fwd_hooks) == 0 for p in tiny_model.hook_dict.values())
    assert session.saes == {}


@pytest.mark.parametrize(
    "args,message",
    [
        ({"hook": "blocks.9.hook_resid_post", "latents": 8}, "not a hook of this model"),
        ({"hook": HOOK, "latents": 8, "k": 9}, "k must be 1 to latents"),
        ({"hook": HOOK, "latents": 0}, "latents must be 1"),
        ({"hook": HOOK, "latents": 8, "k": 4, "heldout": 1.0}, "heldout is between 0 and 1"),
        ({"hook": "blocks.0.attn.hook_pattern", "latents": 8}, "one vector per token"),
    ],
)
def test_bad_training_arguments_are_refused(
    session: Session, args: dict[str, Any], message: str
) -> None:
    session.set_dataset(TEXTS[:8], window=8)
    before = session.state.model_dump()
    with pytest.raises(TranspectorError, match=message):
        session.train_sae(**args)
    assert session.state.model_dump() == before and session.saes == {}


def test_an_autoencoder_of_another_width_is_refused(session: Session, tmp_path: Path) -> None:
    wrong = SparseAutoencoder(32, 16, "topk", 2, HOOK)
    wrong.save(tmp_path / "w")
    before = session.state.model_dump()
    with pytest.raises(TranspectorError, match=r"d_in is 32 but blocks\.1\.hook_resid_post has"):
        session.load_sae(tmp_path / "w")
    with pytest.raises(TranspectorError, match="not a hook of this model"):
        session.load_sae(SparseAutoencoder(64, 16, "topk", 2, "blocks.7.hook_resid_post"))
    with pytest.raises(TranspectorError, match=r"no cfg\.json"):
        session.load_sae(tmp_path / "missing")
    assert session.state.model_dump() == before and session.saes == {}
    right = SparseAutoencoder(64, 16, "topk", 2, HOOK)
    assert session.load_sae(right) is right and session.saes == {HOOK: right}
