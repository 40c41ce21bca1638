"""Splicing an autoencoder into the forward: reconstruction plus error is the activation, a
splice that changes no latent leaves the logits as they were, a latent ablation equals a hook
written by hand from the saved tensors, session.code() reproduces every latent edit, and bad
edits are refused with the state unchanged."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import load_file

from tests.kernel.test_datasets import _cache
from tests.kernel.test_neurons import TEXTS
from tests.kernel.test_sae import by_hand
from transpector.errors import TranspectorError
from transpector.kernel import hook_runtime
from transpector.kernel.sae.model import SparseAutoencoder
from transpector.kernel.session import Session

__all__ = ["_cache"]
HOOK = "blocks.0.hook_resid_post"
K = 8


@pytest.fixture
def spliced(session: Session, tmp_path: Path) -> tuple[Session, SparseAutoencoder, dict[str, Any]]:
    session.set_dataset(TEXTS, window=16)
    session.train_sae(HOOK, 128, K, epochs=1, path=tmp_path / "sae")
    session.load_sae(tmp_path / "sae")
    tensors = load_file(str(tmp_path / "sae" / "sae_weights.safetensors"))
    return session, session.saes[HOOK], tensors


def clean(model: Any, prompt: str = "hello world") -> tuple[torch.Tensor, torch.Tensor]:
    with torch.inference_mode():
        logits, cache = model.run_with_cache(model.to_tokens(prompt), names_filter=[HOOK])
    return logits[0], cache[HOOK]


def test_reconstruction_plus_error_is_the_activation(spliced: Any, tiny_model: Any) -> None:
    _, sae, _ = spliced
    _, act = clean(tiny_model)
    with torch.no_grad():
        recon = sae.decode(sae.encode(act))
        assert torch.allclose(recon + (act - recon), act, rtol=0, atol=1e-6)
        assert not torch.allclose(recon, act, atol=1e-3)  # the error term is not nothing
        kept = hook_runtime.edit_latent(act, None, sae=sae, latent=5, positions=None, add=0.0)
    assert torch.equal(kept, act)  # a splice that changes no latent is exact


def test_a_splice_that_changes_nothing_keeps_the_logits(spliced: Any, tiny_model: Any) -> None:
    session, _, _ = spliced
    logits, _ = clean(tiny_model)
    session.edit_latent("L0.resid_post", 3, "steer", scale=0.0)
    assert torch.allclose(session.run().logits, logits, rtol=0, atol=1e-5)


def test_ablating_a_latent_equals_a_hand_written_hook(spliced: Any, tiny_model: Any) -> None:
    session, _, tensors = spliced
    logits, act = clean(tiny_model)
    latents = by_hand(tensors, act[0].float(), K)  # [pos, d_sae]
    latent = int(latents.max(0).values.argmax())
    assert latents[:, latent].max() > 0

    def subtract(act: torch.Tensor, hook: Any) -> torch.Tensor:
        f = by_hand(tensors, act.float(), K)[..., latent]
        return act - f[..., None] * tensors["W_dec"][latent]

    with torch.inference_mode():
        expected = tiny_model.run_with_hooks(
            tiny_model.to_tokens("hello world"), fwd_hooks=[(HOOK, subtract)]
        )[0]
    session.edit_latent("L0.resid_post", latent, "ablate")
    got = session.run().logits
    assert torch.allclose(got, expected, rtol=0, atol=1e-5)
    assert not torch.allclose(got, logits, atol=1e-4)


@pytest.mark.parametrize(
    "action,extra",
    [
        ("ablate", {"positions": "where it is largest"}),
        ("steer", {"scale": 4.0}),
        ("patch", {"source_prompt": "quick brown"}),
    ],
)
def test_session_code_reproduces_latent_edits(
    spliced: Any, tiny_model: Any, action: str, extra: dict[str, Any]
) -> None:
    session, _, tensors = spliced
    _, act = clean(tiny_model)
    latents = by_hand(tensors, act[0, 1:].float(), K)  # after BOS, where prompts differ
    latent = int(latents.max(0).values.argmax())
    if "positions" in extra:
        extra = {"positions": [1 + int(latents[:, latent].argmax())]}
    session.edit_latent("L0.resid_post", latent, action, **extra)
    namespace: dict[str, Any] = {"model": tiny_model}
    exec(session.code(), namespace)
    got = session.run().logits
    assert torch.allclose(namespace["logits"], got, rtol=0, atol=1e-5)
    assert not torch.allclose(got, clean(tiny_model)[0], atol=1e-4)


def test_bad_latent_edits_are_refused(spliced: Any, session: Session, tmp_path: Path) -> None:
    before = session.state.model_dump()
    with pytest.raises(TranspectorError, match=r"no autoencoder is loaded for blocks\.1"):
        session.edit_latent("L1.resid_post", 0)
    with pytest.raises(TranspectorError, match="latent 128 is out of range"):
        session.edit_latent("L0.resid_post", 128)
    with pytest.raises(TranspectorError, match="needs a source_prompt"):
        session.edit_latent("L0.resid_post", 0, "patch")
    with pytest.raises(TranspectorError, match="whole MLP or residual node"):
        session.edit_latent("L0.H1", 0)
    with pytest.raises(TranspectorError, match="edit_latent: "):
        session.edit_latent("L0.resid_post", 0, "boost")
    assert session.state.model_dump() == before
    session.edit_latent("L0.resid_post", 0)
    other = SparseAutoencoder(64, 16, "topk", 2, HOOK)
    with pytest.raises(TranspectorError, match="remove them before loading another"):
        session.load_sae(other)
    assert session.saes[HOOK] is not other


def test_a_latent_steer_where_a_resumed_run_starts_is_applied_once(
    session: Session, tmp_path: Path
) -> None:
    entry = "blocks.1.hook_resid_pre"  # the kept input a run resumed at block 1 starts from
    session.set_dataset(TEXTS, window=16)
    session.train_sae(entry, 128, K, epochs=1, path=tmp_path / "sae1")
    session.load_sae(tmp_path / "sae1")
    session.edit_latent("L1.resid_pre", 3, "steer", scale=5.0)
    session.run(lens=False)  # kept: the run a change at block 1 resumes from
    session.ablate("L1.H0")
    resumed = session.run(lens=False)
    assert resumed.timing.resumed_from_layer is not None
    with torch.inference_mode(), session.applied() as model:  # every hook, one full forward
        full = model(model.to_tokens("hello world"))[0]
    assert torch.allclose(resumed.logits, full, atol=1e-5)
