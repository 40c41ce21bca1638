"""The latents tool against plain recomputation: the autoencoder written out from its saved
tensors over TransformerLens's own cache (prompt and windows cut by hand), top windows and
histogram counted by hand, logit effects from W_dec @ W_U through the final norm by hand."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from tests.kernel.test_datasets import _cache, windows_by_hand
from tests.kernel.test_neurons import TEXTS
from tests.kernel.test_sae import by_hand
from transpector.errors import TranspectorError
from transpector.kernel.session import Session
from transpector.protocol.latents import LatentsResult

__all__ = ["_cache"]
HOOK = "blocks.1.hook_resid_post"
K = 6


def acts_at(model: Any, tokens: torch.Tensor) -> torch.Tensor:
    with torch.inference_mode():
        _, cache = model.run_with_cache(tokens, names_filter=[HOOK])
    return cache[HOOK].float()


@pytest.fixture
def tensors(session: Session, tmp_path: Path) -> dict[str, torch.Tensor]:
    session.set_dataset(TEXTS, window=16)
    session.load_sae(session.train_sae(HOOK, 64, K, epochs=1, path=tmp_path / "sae"))
    return load_file(str(tmp_path / "sae" / "sae_weights.safetensors"))


def test_without_an_autoencoder_the_node_says_so(session: Session) -> None:
    result = session.call("latents", node="L1.resid_post")
    assert isinstance(result, LatentsResult)
    assert (result.loaded, result.d_sae, result.latents, result.hook) == (False, 0, [], HOOK)


def test_ranked_latents_and_the_dashboard_equal_a_plain_recomputation(
    session: Session, tiny_model: Any, tensors: dict[str, torch.Tensor]
) -> None:
    prompt = by_hand(tensors, acts_at(tiny_model, tiny_model.to_tokens("hello world"))[0], K)
    best, where = prompt.max(0)
    listed = session.call("latents", node="L1.resid_post", k=5)
    assert isinstance(listed, LatentsResult) and listed.loaded and listed.d_sae == 64
    assert [r.latent for r in listed.latents] == best.topk(5).indices.tolist()
    assert np.allclose([r.value for r in listed.latents], best.topk(5).values.tolist(), atol=1e-5)
    assert [r.position for r in listed.latents] == where[best.topk(5).indices].tolist()

    latent = listed.latents[0].latent
    result = session.call("latents", node="L1.resid_post", latent=latent, contexts=4, n_logits=5)
    assert isinstance(result, LatentsResult) and result.view is not None
    view = result.view
    assert np.allclose(view.acts, prompt[:, latent].tolist(), atol=1e-5)
    windows = torch.tensor(windows_by_hand(tiny_model.tokenizer, TEXTS, 16))
    every = by_hand(tensors, acts_at(tiny_model, windows), K)[:, :, latent]  # [windows, pos]
    top = every.max(1).values.topk(4)
    # windows whose largest value is at BOS tie (BOS reads the same in every window): compare
    # the values, and each listed window's row with the one by hand
    assert np.allclose([c.max_value for c in view.contexts], top.values.tolist(), atol=1e-5)
    for context in view.contexts:
        assert np.allclose(context.acts, every[context.window].tolist(), atol=1e-5)
    hist = view.histogram
    assert sum(hist.counts) + hist.below + hist.above == every.numel()
    assert hist.density == pytest.approx(float((every > 0).float().mean()))
    w_u = tiny_model.W_U.detach() * tiny_model.ln_final.original_component.weight[:, None]
    effects = tensors["W_dec"][latent] @ (w_u - w_u.mean(0, keepdim=True))
    assert [t.id for t in view.top_logits] == effects.topk(5).indices.tolist()
    assert [t.id for t in view.bottom_logits] == effects.topk(5, largest=False).indices.tolist()
    assert np.allclose(
        [t.value for t in view.top_logits], effects.topk(5).values.tolist(), atol=1e-5
    )


def test_a_latent_out_of_range_is_refused(
    session: Session, tensors: dict[str, torch.Tensor]
) -> None:
    before = session.state.model_dump()
    with pytest.raises(TranspectorError, match="latent 64 is out of range"):
        session.call("latents", node="L1.resid_post", latent=64)
    assert session.state.model_dump() == before
