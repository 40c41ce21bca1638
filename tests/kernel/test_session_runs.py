"""Runs and interventions on a tiny real model, checked against plain TransformerLens and torch."""

from __future__ import annotations

import functools
from typing import Any

import pytest
import torch

from transpector.errors import TranspectorError
from transpector.kernel.session import Session

PROMPT = "hello world"


def hooks_snapshot(model: Any) -> list[tuple[str, int]]:
    return [(name, len(point.fwd_hooks)) for name, point in model.hook_dict.items()]


def test_run_matches_the_plain_model(session: Session, tiny_model: Any) -> None:
    result = session.run(top_k=5)
    tokens = tiny_model.to_tokens(PROMPT)
    with torch.inference_mode():
        logits = tiny_model(tokens)[0]
    assert torch.allclose(result.logits, logits, atol=1e-5)
    probs = logits.softmax(-1)
    assert [t.id for t in result.top_k[3]] == probs[3].topk(5).indices.tolist()
    assert result.top_k[3][0].prob == pytest.approx(float(probs[3].max()), abs=1e-5)
    expected = torch.nn.functional.cross_entropy(logits[:-1], tokens[0, 1:], reduction="none")
    assert result.loss == pytest.approx(expected.tolist(), abs=1e-5)
    assert result.token_ids == tokens[0].tolist()
    assert len(result.tokens) == tokens.shape[1]


def test_final_lens_row_is_the_models_own_prediction(session: Session, tiny_model: Any) -> None:
    lens = session.run().logit_lens
    assert lens is not None
    with torch.inference_mode():
        probs = tiny_model(tiny_model.to_tokens(PROMPT))[0].softmax(-1)
    assert lens.token_ids[-1] == probs.argmax(-1).tolist()
    assert lens.probs[-1] == pytest.approx(probs.max(-1).values.tolist(), abs=1e-4)
    assert len(lens.token_ids) == tiny_model.cfg.n_layers + 1


def test_zero_ablating_a_head_equals_zeroing_its_hook_z(session: Session, tiny_model: Any) -> None:
    session.ablate("L1.H2")

    def zero_head(z: torch.Tensor, hook: Any) -> torch.Tensor:
        z = z.clone()
        z[:, :, 2] = 0
        return z

    with torch.inference_mode():
        expected = tiny_model.run_with_hooks(
            tiny_model.to_tokens(PROMPT), fwd_hooks=[("blocks.1.attn.hook_z", zero_head)]
        )[0]
        clean = tiny_model(tiny_model.to_tokens(PROMPT))[0]
    actual = session.run().logits
    assert torch.allclose(actual, expected, atol=1e-5)
    assert not torch.allclose(actual, clean, atol=1e-4)


def test_isolating_a_head_zeroes_every_other_head(session: Session, tiny_model: Any) -> None:
    session.isolate("L0.H1")

    def keep_one(z: torch.Tensor, hook: Any) -> torch.Tensor:
        z = z.clone()
        z[:, :, [0, 2, 3]] = 0
        return z

    with torch.inference_mode():
        expected = tiny_model.run_with_hooks(
            tiny_model.to_tokens(PROMPT), fwd_hooks=[("blocks.0.attn.hook_z", keep_one)]
        )[0]
    assert torch.allclose(session.run().logits, expected, atol=1e-5)


def test_patching_the_whole_residual_stream_at_layer_0_gives_the_clean_logits(
    session: Session, tiny_model: Any
) -> None:
    clean, corrupt = "hello world", "jello wxrld"
    session.prompt = corrupt
    session.patch(source="L0.resid_pre", target="L0.resid_pre", source_prompt=clean)
    with torch.inference_mode():
        clean_logits = tiny_model(tiny_model.to_tokens(clean))[0]
        corrupt_logits = tiny_model(tiny_model.to_tokens(corrupt))[0]
    patched = session.run().logits
    assert torch.allclose(patched, clean_logits, atol=1e-5)
    assert not torch.allclose(patched, corrupt_logits, atol=1e-3)


def test_mean_ablation_uses_the_reference_batch_mean(session: Session, tiny_model: Any) -> None:
    refs = ["the cat sat", "on the mat!"]
    session.reference_prompts = refs
    session.ablate("L0.mlp", method="mean", positions=[2, 3])
    with torch.inference_mode():
        _, cache = tiny_model.run_with_cache(tiny_model.to_tokens(refs[0]))
        _, cache2 = tiny_model.run_with_cache(tiny_model.to_tokens(refs[1]))
        mean = torch.cat(
            [cache["blocks.0.hook_mlp_out"][0], cache2["blocks.0.hook_mlp_out"][0]]
        ).mean(0)

        def set_mean(act: torch.Tensor, hook: Any) -> torch.Tensor:
            act = act.clone()
            act[:, [2, 3]] = mean
            return act

        expected = tiny_model.run_with_hooks(
            tiny_model.to_tokens(PROMPT), fwd_hooks=[("blocks.0.hook_mlp_out", set_mean)]
        )[0]
    assert torch.allclose(session.run().logits, expected, atol=1e-5)


def test_code_reproduces_every_kind_of_intervention(session: Session, tiny_model: Any) -> None:
    session.reference_prompts = ["abc def", "the quick brown fox"]
    session.ablate("L0.mlp", method="mean")
    session.ablate("L0.H1", method="resample", positions=[0, 1], seed=3)
    session.ablate("L1.mlp.N7")
    session.isolate("L1.H0", positions=[-1])
    session.patch(source="L0.resid_post", target="L1.resid_pre", source_prompt="hello wxrld")
    session.freeze("L0.H0")
    session.prompt = "jello world"
    namespace: dict[str, Any] = {"model": tiny_model}
    exec(session.code(), namespace)
    assert torch.allclose(namespace["logits"], session.run().logits, atol=1e-5)
    assert tiny_model.hook_dict["blocks.0.attn.hook_z"].fwd_hooks == []


def test_applied_affects_any_model_call_and_then_leaves(session: Session, tiny_model: Any) -> None:
    session.ablate("L1.H1")
    tokens = tiny_model.to_tokens(PROMPT)
    before = hooks_snapshot(tiny_model)
    with torch.inference_mode():
        with session.applied():
            inside = tiny_model(tokens)[0]
        outside = tiny_model(tokens)[0]
    assert torch.allclose(inside, session.run().logits, atol=1e-5)
    assert not torch.allclose(inside, outside, atol=1e-4)
    assert hooks_snapshot(tiny_model) == before


def test_interventions_never_leak_even_when_a_run_fails(session: Session, tiny_model: Any) -> None:
    session.ablate("L1.H1")
    session.patch(source="L0.H2", target="L0.H3")
    before = hooks_snapshot(tiny_model)
    session.run()
    assert hooks_snapshot(tiny_model) == before
    with pytest.raises(RuntimeError, match="inside"), session.applied():
        raise RuntimeError("inside")
    assert hooks_snapshot(tiny_model) == before

    def explode(act: torch.Tensor, hook: Any) -> None:
        raise RuntimeError("boom")

    tiny_model.hook_dict["blocks.1.hook_mlp_out"].add_hook(explode)
    with_user_hook = hooks_snapshot(tiny_model)
    with pytest.raises(RuntimeError, match="boom"):
        session.run()
    assert hooks_snapshot(tiny_model) == with_user_hook
    tiny_model.reset_hooks(including_permanent=True)
    assert hooks_snapshot(tiny_model) == before


def test_hook_inspector_lists_and_resets_foreign_hooks(session: Session, tiny_model: Any) -> None:
    def my_probe(act: torch.Tensor, hook: Any) -> None:
        return None

    tiny_model.add_hook("blocks.0.hook_resid_post", my_probe)
    tiny_model.add_perma_hook("blocks.1.attn.hook_pattern", functools.partial(my_probe))
    rows = {(r.hook_point, r.function, r.permanent, r.owned) for r in session.hooks()}
    assert ("blocks.0.hook_resid_post", my_probe.__qualname__, False, False) in rows
    assert ("blocks.1.attn.hook_pattern", my_probe.__qualname__, True, False) in rows
    with torch.inference_mode():
        plain = tiny_model(tiny_model.to_tokens(PROMPT))[0]
    assert torch.allclose(session.run().logits, plain)  # user hooks take effect in runs
    assert session.reset_foreign_hooks() == 2
    assert session.hooks() == []


def test_node_data_gives_patterns_and_activations(session: Session, tiny_model: Any) -> None:
    with torch.inference_mode():
        _, cache = tiny_model.run_with_cache(tiny_model.to_tokens(PROMPT))
    pattern = cache["blocks.1.attn.hook_pattern"][0]
    assert torch.allclose(session.node_data("L1.H2"), pattern[2])
    assert torch.allclose(session.node_data("L1.attn"), pattern)
    resid = cache["blocks.0.hook_resid_mid"][0]
    assert torch.allclose(session.node_data("L0.resid_mid", "norm"), resid.norm(dim=-1))
    neuron = cache["blocks.0.mlp.hook_post"][0, :, 7]
    assert torch.allclose(session.node_data("L0.mlp.N7"), neuron)
    session.ablate("L1.H2")
    assert torch.allclose(session.node_data("L1.H2"), pattern[2])  # its own pattern is upstream
    assert torch.count_nonzero(session.node_data("L1.H2", "activation")) == 0


def test_lens_cell_top_k_is_the_unembedded_residual(session: Session, tiny_model: Any) -> None:
    tokens = tiny_model.to_tokens(PROMPT)
    with torch.inference_mode():
        _, cache = tiny_model.run_with_cache(tokens)
        x = cache["blocks.1.hook_resid_pre"][0, 3]
        centred = x - x.mean()
        normed = centred / (centred.pow(2).mean() + tiny_model.cfg.eps).sqrt()
        normed = normed * tiny_model.ln_final.original_component.weight
        normed = normed + tiny_model.ln_final.original_component.bias
        probs = (normed @ tiny_model.W_U + tiny_model.b_U).softmax(-1)
    cell = session.lens_top_k("L1.resid_pre", 3, k=4)
    assert [t.id for t in cell] == probs.topk(4).indices.tolist()
    assert [t.prob for t in cell] == pytest.approx(probs.topk(4).values.tolist(), abs=1e-5)
    lens = session.run().logit_lens
    assert lens is not None
    assert (cell[0].id, cell[0].prob) == (lens.token_ids[1][3], pytest.approx(lens.probs[1][3]))


def test_lens_cell_sees_interventions_and_refuses_bad_cells(session: Session) -> None:
    clean = session.lens_top_k("L1.resid_post", -1, k=3)
    session.ablate("L1.mlp")
    assert session.lens_top_k("L1.resid_post", -1, k=3) != clean
    with pytest.raises(TranspectorError, match="not a logit lens row"):
        session.lens_top_k("L0.H1", 0)
    with pytest.raises(TranspectorError, match="out of range"):
        session.lens_top_k("L0.resid_pre", 99)
