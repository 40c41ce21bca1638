"""`transpector train-sae` on a tiny local model and a text file: it saves an autoencoder that
loads back, prints the report, and a bad hook exits with one line and nothing written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from tests.kernel.test_datasets import _cache
from tests.kernel.test_neurons import TEXTS
from transpector.cli import main
from transpector.kernel.sae.model import load_sae

__all__ = ["_cache"]


def test_train_sae_saves_a_loadable_autoencoder_and_prints_its_report(
    tiny_llama_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n\n".join(TEXTS), encoding="utf-8")
    out = tmp_path / "sae"
    code = main([
        "train-sae", "--model", str(tiny_llama_dir), "--dataset", str(corpus), "--window", "16",
        "--hook", "blocks.1.hook_resid_post", "--latents", "48", "--k", "4", "--epochs", "1",
        "--out", str(out),
    ])  # fmt: skip
    assert code == 0
    printed = capsys.readouterr().out
    report = json.loads(printed[printed.index("{\n") : printed.rindex("}") + 1])
    sae = load_sae(out)
    assert sae.report is not None and report == sae.report.model_dump()
    assert (sae.d_sae, sae.k, sae.hook_name) == (48, 4, "blocks.1.hook_resid_post")
    assert report["dataset"] == str(corpus) and report["fvu"] > 0 and report["l0"] <= 4
    assert torch.isfinite(sae.W_dec).all()


def test_a_bad_hook_exits_with_one_clear_line_and_writes_nothing(
    tiny_llama_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "sae"
    code = main([
        "train-sae", "--model", str(tiny_llama_dir), "--hook", "blocks.5.hook_resid_post",
        "--latents", "8", "--k", "2", "--out", str(out), "--window", "16",
    ])  # fmt: skip
    assert code == 2 and not out.exists()
    last = capsys.readouterr().err.strip().splitlines()[-1]  # after the model's loading bar
    assert last == "transpector: 'blocks.5.hook_resid_post' is not a hook of this model"
