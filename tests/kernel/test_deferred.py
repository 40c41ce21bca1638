"""session.trace / session.generate (nnsight) against independent computations: run_with_cache,
plain TransformerLens hooks, a manual token loop, and the session's own interventions."""

from __future__ import annotations

import runpy
from functools import partial
from pathlib import Path
from typing import Any

import nnsight
import pytest
import torch

from transpector.kernel.session import Session

PROMPT = "hello world"
HOOKS = [
    "hook_embed",
    "hook_pos_embed",
    "blocks.0.hook_resid_pre",
    "blocks.0.ln1.hook_normalized",
    "blocks.0.attn.hook_q",
    "blocks.0.attn.hook_k",
    "blocks.0.attn.hook_v",
    "blocks.0.attn.hook_pattern",
    "blocks.0.attn.hook_z",
    "blocks.0.hook_attn_out",
    "blocks.0.hook_resid_mid",
    "blocks.0.mlp.hook_post",
    "blocks.0.hook_mlp_out",
    "blocks.1.hook_resid_pre",
    "blocks.1.attn.hook_z",
    "blocks.1.hook_resid_post",
    "ln_final.hook_normalized",
]


def cached(model: Any, prompt: str) -> Any:
    with torch.no_grad():
        _, cache = model.run_with_cache(model.to_tokens(prompt))
    return cache


def plain_logits(model: Any, prompt: str, hooks: list[Any] | None = None) -> torch.Tensor:
    with torch.no_grad(), model.hooks(fwd_hooks=hooks or []):
        return model(model.to_tokens(prompt))[0]


def zero_head(act: torch.Tensor, hook: Any, head: int) -> torch.Tensor:
    act = act.clone()
    act[:, :, head] = 0.0
    return act


def test_saved_hooks_equal_run_with_cache(session: Session, tiny_model: Any) -> None:
    order = session._wrapped()[1].order()
    names = sorted(HOOKS, key=order.__getitem__)
    with session.trace(PROMPT) as tr:
        saved = nnsight.save([tr.hook(name).output for name in names])
    cache = cached(tiny_model, PROMPT)
    for name, value in zip(names, saved, strict=True):
        assert value.shape == cache[name].shape, name
        torch.testing.assert_close(value, cache[name], atol=1e-5, rtol=0, msg=name)
    assert saved[names.index("blocks.0.attn.hook_z")].shape[-2:] == (4, 16)  # heads, d_head


def test_module_output_and_input_and_shape(session: Session, tiny_model: Any) -> None:
    with session.trace(PROMPT) as tr:
        block_in = tr.model.blocks[1].input.save()
        block_out = tr.model.blocks[1].output[0].save()  # a block returns (resid,)
        shape = nnsight.save(tr.model.blocks[1].output[0].shape)
        logits = tr.model.output.save()
    cache = cached(tiny_model, PROMPT)
    torch.testing.assert_close(block_in, cache["blocks.1.hook_resid_pre"], atol=1e-5, rtol=0)
    torch.testing.assert_close(block_out, cache["blocks.1.hook_resid_post"], atol=1e-5, rtol=0)
    assert tuple(shape) == (1, 12, 64)
    torch.testing.assert_close(logits[0], plain_logits(tiny_model, PROMPT), atol=1e-5, rtol=0)


def test_deferred_head_ablation_equals_session_ablate(session: Session) -> None:
    with session.trace(PROMPT) as tr:
        tr.hook("blocks.1.attn.hook_z").head(2)[:] = 0
        deferred = tr.model.output.save()
    clean = session.run().logits
    session.ablate("L1.H2")
    ablated = session.run().logits
    assert (ablated - clean).abs().max() > 1e-3  # the ablation changes the output
    torch.testing.assert_close(deferred[0], ablated, atol=1e-5, rtol=0)


def test_flat_index_is_not_a_head(session: Session) -> None:
    """The trap: on nnsight's own module value hook_z is [batch, pos, n_heads * d_head], so
    index 2 of its last axis is feature 2 of head 0, not head 2."""
    with session.trace(PROMPT) as tr:
        flat = tr.hook("blocks.1.attn.hook_z").envoy.output
        flat[:, :, 2] = 0
        wrong = tr.model.output.save()
    session.ablate("L1.H2")
    assert (wrong[0] - session.run().logits).abs().max() > 1e-3


def test_session_interventions_apply_unless_opted_out(session: Session, tiny_model: Any) -> None:
    session.ablate("L0.H1")
    session.ablate("L1.mlp", positions=[2, 3])
    with session.trace(PROMPT) as tr:
        applied = tr.model.output.save()
    with session.trace(PROMPT, interventions=False) as tr:
        clean = tr.model.output.save()
    torch.testing.assert_close(applied[0], session.run().logits, atol=1e-5, rtol=0)
    torch.testing.assert_close(clean[0], plain_logits(tiny_model, PROMPT), atol=1e-5, rtol=0)
    assert session.hooks() == []


def test_code_nnsight_executed_equals_session_logits(
    session: Session, tiny_model: Any, tmp_path: Path
) -> None:
    session.reference_prompts = ["a cat sat", "the dog ran off"]
    session.ablate("L1.H2")
    session.ablate("L0.H1", method="mean")
    session.ablate("L0.mlp", method="resample", positions=[1, 2], seed=3)
    session.patch("L0.resid_post", "L1.resid_pre", source_prompt="jello world")
    session.isolate("L1.H0", positions=[-1])
    code = session.code(style="nnsight")
    assert "NNsight(model)" in code and "fwd_hooks=fwd_hooks" not in code
    path = tmp_path / "exported.py"
    path.write_text(code)
    namespace = runpy.run_path(str(path), init_globals={"model": tiny_model})
    expected = session.run().logits
    assert (expected - plain_logits(tiny_model, PROMPT)).abs().max() > 1e-3
    torch.testing.assert_close(namespace["logits"], expected, atol=1e-5, rtol=0)
    assert session.hooks() == []


def test_generation_with_per_step_interventions_equals_a_manual_loop(
    session: Session, tiny_model: Any
) -> None:
    push = torch.zeros(64)
    push[:8] = 4.0

    with session.generate(PROMPT, max_new_tokens=4) as tr:
        for step in tr.iter[:4]:
            if step in (0, 2):
                hook = tr.hook("blocks.1.hook_resid_pre")
                hook.output = hook.output + push
            tr.hook("blocks.1.attn.hook_z").head(3)[:] = 0
        ids = tr.result.save()

    def add(act: torch.Tensor, hook: Any) -> torch.Tensor:
        return act + push

    tokens = tiny_model.to_tokens(PROMPT)
    clean = tokens
    for step in range(4):
        hooks = [("blocks.1.attn.hook_z", partial(zero_head, head=3))]
        if step in (0, 2):
            hooks.append(("blocks.1.hook_resid_pre", add))
        with torch.no_grad(), tiny_model.hooks(fwd_hooks=hooks):
            next_id = tiny_model(tokens)[0, -1].argmax()
        tokens = torch.cat([tokens, next_id.view(1, 1)], dim=1)
        with torch.no_grad():
            clean = torch.cat([clean, tiny_model(clean)[0, -1].argmax().view(1, 1)], dim=1)
    assert ids.tolist() == tokens.tolist()
    assert ids.tolist() != clean.tolist()  # the interventions change what is generated


def test_generation_applies_session_interventions_at_every_step(
    session: Session, tiny_model: Any
) -> None:
    session.ablate("L0.H0")
    with session.generate(PROMPT, max_new_tokens=3) as tr:
        ids = tr.result.save()
    tokens = tiny_model.to_tokens(PROMPT)
    for _ in range(3):
        with (
            torch.no_grad(),
            tiny_model.hooks(fwd_hooks=[("blocks.0.attn.hook_z", partial(zero_head, head=0))]),
        ):
            logits = tiny_model(tokens)
        tokens = torch.cat([tokens, logits[0, -1].argmax().view(1, 1)], dim=1)
    assert ids.tolist() == tokens.tolist()


def test_cross_prompt_patch_equals_session_patch(session: Session) -> None:
    source, target = "jello world", "hello there"
    with session.trace(interventions=False) as tr:
        barrier = tr.barrier(2)
        with tr.invoke(source):
            resid = tr.hook("blocks.0.hook_resid_post").output
            barrier()
        with tr.invoke(target):
            barrier()
            tr.hook("blocks.0.hook_resid_post").output = resid
            patched = tr.model.output.save()
    session.prompt = target
    clean = session.run().logits
    session.patch("L0.resid_post", "L0.resid_post", source_prompt=source)
    expected = session.run().logits
    assert (expected - clean).abs().max() > 1e-3
    torch.testing.assert_close(patched[0], expected, atol=1e-5, rtol=0)


def test_t_counts_from_the_end_under_left_padding(session: Session, tiny_model: Any) -> None:
    short, long = "hi", "hello there, world"
    with session.trace() as tr:
        with tr.invoke(short):
            short_last = tr.hook("blocks.1.hook_resid_post").t(-1).save()
            short_first = tr.hook("blocks.1.hook_resid_post").t(1).save()
            short_logits = tr.model.output[:, tr.t(-1)].save()
        with tr.invoke(long):
            long_last = tr.hook("blocks.1.hook_resid_post").t(-1).save()
            long_first = tr.hook("blocks.1.hook_resid_post").t(1).save()
            width = nnsight.save(tr.model.output.shape)
    assert tuple(width)[1] == tiny_model.to_tokens(long).shape[1]  # padded to the longest
    for prompt, last, first in ((short, short_last, short_first), (long, long_last, long_first)):
        resid = cached(tiny_model, prompt)["blocks.1.hook_resid_post"]
        torch.testing.assert_close(last, resid[:, -1], atol=1e-5, rtol=0)
        torch.testing.assert_close(first, resid[:, 1], atol=1e-5, rtol=0)
    torch.testing.assert_close(
        short_logits[0], plain_logits(tiny_model, short)[-1], atol=1e-5, rtol=0
    )
    with session.trace() as tr:
        with tr.invoke(short):
            wrong = tr.hook("blocks.1.hook_resid_post").output[:, 1].save()  # a pad position
        with tr.invoke(long):
            pass
    assert not torch.allclose(wrong, short_first, atol=1e-3)


@pytest.mark.parametrize("n_invokes", [1, 3])
def test_batched_invokes_equal_one_prompt_runs(
    session: Session, tiny_model: Any, n_invokes: int
) -> None:
    prompts = ["a", "hello world", "the quick brown fox"][:n_invokes]
    with session.trace(prompts) as tr:
        logits = tr.model.output.save()
    for row, prompt in enumerate(prompts):
        n = tiny_model.to_tokens(prompt).shape[1]
        torch.testing.assert_close(
            logits[row, -n:], plain_logits(tiny_model, prompt), atol=1e-5, rtol=0
        )


def test_modules_first_reached_during_the_forward(session: Session, tiny_model: Any) -> None:
    """Envoys are made when a trace first reaches a module, here while the forward runs."""
    with session.trace(PROMPT) as tr:
        z = tr.hook("blocks.0.attn.hook_z").output.save()
        mlp_out = tr.model.blocks[1].mlp.output.save()
        resid = tr.model.blocks[1].output[0].save()
        final = tr.module("ln_final").output.save()
    cache = cached(tiny_model, PROMPT)
    torch.testing.assert_close(z, cache["blocks.0.attn.hook_z"], atol=1e-5, rtol=0)
    torch.testing.assert_close(mlp_out, cache["blocks.1.hook_mlp_out"], atol=1e-5, rtol=0)
    torch.testing.assert_close(resid, cache["blocks.1.hook_resid_post"], atol=1e-5, rtol=0)
    torch.testing.assert_close(final, cache["ln_final.hook_normalized"], atol=1e-5, rtol=0)
