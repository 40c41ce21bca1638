"""session.trace on the real SmolLM2 (rotary, grouped-query attention, RMSNorm) against
run_with_cache, session.ablate, the exported nnsight code and a manual token loop."""

from __future__ import annotations

import runpy
from functools import partial
from pathlib import Path
from typing import Any

import nnsight
import pytest
import torch

from transpector.kernel.session import Session

pytestmark = pytest.mark.default_model
PROMPT = "The capital of France is"
HOOKS = [
    "blocks.3.attn.hook_q",
    "blocks.3.attn.hook_k",
    "blocks.3.attn.hook_pattern",
    "blocks.3.attn.hook_z",
    "blocks.3.hook_attn_out",
    "blocks.20.mlp.hook_post",
    "blocks.20.hook_resid_post",
]


@pytest.fixture
def session(default_model: Any) -> Session:
    s = Session(default_model)
    s.prompt = PROMPT
    return s


def zero_head(act: torch.Tensor, hook: Any, head: int) -> torch.Tensor:
    act = act.clone()
    act[:, :, head] = 0.0
    return act


def test_saved_hooks_equal_run_with_cache(session: Session, default_model: Any) -> None:
    with session.trace(PROMPT) as tr:
        saved = nnsight.save([tr.hook(name).output for name in HOOKS])
    with torch.no_grad():
        _, cache = default_model.run_with_cache(default_model.to_tokens(PROMPT))
    for name, value in zip(HOOKS, saved, strict=True):
        assert value.shape == cache[name].shape, name
        torch.testing.assert_close(value, cache[name], atol=1e-5, rtol=0, msg=name)
    assert saved[1].shape[2] == 3 and saved[3].shape[2] == 9  # 3 key/value heads, 9 heads


def test_head_ablation_and_exported_code_equal_the_session(
    session: Session, default_model: Any, tmp_path: Path
) -> None:
    with session.trace(PROMPT) as tr:
        tr.hook("blocks.5.attn.hook_z").head(4)[:] = 0
        deferred = tr.model.output.save()
    session.ablate("L5.H4")
    ablated = session.run().logits
    torch.testing.assert_close(deferred[0], ablated, atol=1e-5, rtol=0)

    session.patch("L2.resid_post", "L2.resid_post", source_prompt="The capital of Spain is")
    path = tmp_path / "exported.py"
    path.write_text(session.code(style="nnsight"))
    namespace = runpy.run_path(str(path), init_globals={"model": default_model})
    expected = session.run().logits
    assert (expected - ablated).abs().max() > 1e-2
    torch.testing.assert_close(namespace["logits"], expected, atol=1e-4, rtol=0)


def test_generation_with_a_step_ablation_equals_a_manual_loop(
    session: Session, default_model: Any
) -> None:
    with session.generate(PROMPT, max_new_tokens=3) as tr:
        for step in tr.iter[:3]:
            if step == 1:
                tr.hook("blocks.10.attn.hook_z").head(0)[:] = 0
        ids = tr.result.save()
    tokens = default_model.to_tokens(PROMPT)
    for step in range(3):
        hooks = [("blocks.10.attn.hook_z", partial(zero_head, head=0))] if step == 1 else []
        with torch.no_grad(), default_model.hooks(fwd_hooks=hooks):
            next_id = default_model(tokens)[0, -1].argmax()
        tokens = torch.cat([tokens, next_id.view(1, 1)], dim=1)
    assert ids.tolist() == tokens.tolist()
    assert default_model.to_string(ids[0, -3]) == " Paris"
