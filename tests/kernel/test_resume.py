"""Resumed forwards equal full ones: every intervention kind on tiny real models of each block
layout, checked against a full forward with the same hooks (logits and captures after L)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import torch

from tests.conftest import boot_tiny
from tests.tiny_models import byte_tokenizer, tiny_llama_dir
from transpector.errors import TranspectorError
from transpector.kernel.adapter import (
    Hooks,
    can_resume,
    capture_block_kwargs,
    hook_layer,
    resume_forward,
)
from transpector.kernel.graph import build_graph
from transpector.kernel.interventions import hook_of, plan, value_of
from transpector.kernel.targets import resolve
from transpector.protocol.graph import GraphSpec
from transpector.protocol.interventions import Ablate, Freeze, Intervention, Isolate, Patch

PROMPT, SAME_LENGTH, SHORTER = "hello world", "jolly words", "abc"
REFERENCES = ["the cat sat", "a dog ran far away"]
N_LAYERS = 3


def neox_parallel(folder: Path) -> Any:
    """A Hugging Face GPT-NeoX with a parallel residual (attention and MLP both read
    resid_pre), rotary positions: the bridge's other block layout."""
    from transformer_lens.model_bridge import TransformerBridge
    from transformers import GPTNeoXConfig, GPTNeoXForCausalLM

    tokenizer = byte_tokenizer(folder)
    torch.manual_seed(0)
    config = GPTNeoXConfig(
        vocab_size=len(tokenizer),
        hidden_size=64,
        num_hidden_layers=N_LAYERS,
        num_attention_heads=4,
        intermediate_size=256,
        max_position_embeddings=64,
        use_parallel_residual=True,
        bos_token_id=0,
        eos_token_id=0,
    )
    GPTNeoXForCausalLM(config).save_pretrained(folder)
    return TransformerBridge.boot_transformers(str(folder), device="cpu", tokenizer=tokenizer)


def hf_gemma2(folder: Path) -> Any:
    """Gemma 2 alternates sliding-window and global layers: blocks get different masks. Its
    final logit soft-cap is off here (with it, can_resume says no)."""
    from transformer_lens.model_bridge import TransformerBridge
    from transformers import Gemma2Config, Gemma2ForCausalLM

    tokenizer = byte_tokenizer(folder)
    torch.manual_seed(0)
    config = Gemma2Config(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=N_LAYERS,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=16,
        sliding_window=4,
        max_position_embeddings=64,
        final_logit_softcapping=None,
        bos_token_id=0,
        eos_token_id=0,
        pad_token_id=0,
    )
    Gemma2ForCausalLM(config).save_pretrained(folder)
    return TransformerBridge.boot_transformers(str(folder), device="cpu", tokenizer=tokenizer)


def hf_llama(folder: Path) -> Any:
    """SmolLM2's layout (Llama: RMSNorm, rotary tables passed to every block, GQA)."""
    import transpector

    return transpector.load_model(tiny_llama_dir(folder, n_layers=N_LAYERS), device="cpu")


MODELS: dict[str, Callable[[Path], Any]] = {
    "ln": lambda folder: boot_tiny(folder),  # the tiny_model fixture's model: 2 layers
    "rotary_gqa_rms": partial(
        boot_tiny,
        n_layers=N_LAYERS,
        positional_embedding_type="rotary",
        n_key_value_heads=2,
        normalization_type="RMS",
    ),
    "parallel_flag": partial(boot_tiny, n_layers=N_LAYERS, parallel_attn_mlp=True),
    "hf_llama": hf_llama,
    "hf_neox_parallel": neox_parallel,
    "hf_gemma2_sliding": hf_gemma2,
}

SPECS: list[Intervention] = [
    *(
        Ablate(id="a1", node=node, method=method, seed=3)
        for node in ("L1.H2", "L1.attn", "L1.mlp", "L1.resid_pre", "L1.resid_mid", "L1.mlp.N7")
        for method in ("zero", "mean", "resample")
    ),
    Ablate(id="a2", node="L0.H1", positions=[1, 3]),
    Ablate(id="a3", node="L1.resid_pre", method="mean", positions=[0, -1]),
    Ablate(id="a4", node="L1.resid_post", method="resample", positions=[2, 4]),
    Isolate(id="i1", node="L1.H1"),
    Isolate(id="i2", node="L1.H0", method="mean", positions=[2]),
    Freeze(id="f1", node="L1.H3", prompt=SAME_LENGTH),
    Freeze(id="f2", node="L1.mlp", prompt=SHORTER, positions=[1, 2]),
    Patch(id="p1", node="L1.resid_pre", source="L1.resid_pre", source_prompt=SAME_LENGTH),
    Patch(id="p2", node="L1.attn", source="L0.mlp", source_prompt=SHORTER, positions=[0, -1]),
    Patch(id="p3", node="L1.H0", source="L0.H2", source_prompt=SAME_LENGTH, positions=[-1]),
]


@dataclass
class Case:
    model: Any
    graph: GraphSpec
    tokens: torch.Tensor
    clean: torch.Tensor
    resid_pre: dict[int, torch.Tensor]  # the clean input of each block
    kwargs: Any


@pytest.fixture(scope="module", params=list(MODELS))
def case(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Case:
    model = MODELS[request.param](tmp_path_factory.mktemp(request.param))
    tokens = model.to_tokens(PROMPT)
    n = model.cfg.n_layers
    with capture_block_kwargs(model) as kwargs:
        clean, found = forward(model, tokens, [], [f"blocks.{i}.hook_resid_pre" for i in range(n)])
    resid_pre = {i: found[f"blocks.{i}.hook_resid_pre"] for i in range(n)}
    return Case(model, build_graph(model), tokens, clean, resid_pre, kwargs)


def forward(
    model: Any, tokens: torch.Tensor, hooks: Hooks, capture: Sequence[str]
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """A full forward with ``hooks``, keeping ``capture``'s activations (as the session does)."""
    found: dict[str, torch.Tensor] = {}

    def keep(act: torch.Tensor, hook: Any, name: str) -> None:
        found[name] = act

    keepers = [(name, partial(keep, name=name)) for name in capture]
    with torch.inference_mode(), model.hooks(fwd_hooks=[*hooks, *keepers]):
        return model(tokens), found


def intervention_hooks(case: Case, specs: Sequence[Intervention]) -> Hooks:
    """The session's hooks for ``specs``: plan, value from clean runs, hook_of."""

    def activations(prompts: Sequence[str], hook: str) -> list[Any]:
        return [
            forward(case.model, case.model.to_tokens(p), [], [hook])[1][hook][0] for p in prompts
        ]

    def count(prompt: str) -> int:
        return int(case.model.to_tokens(prompt).shape[1])

    n_pos = case.tokens.shape[1]
    steps = [step for spec in specs for step in plan(spec, case.graph)]
    return [hook_of(s, value_of(s, n_pos, REFERENCES, activations, count)) for s in steps]


def captures_after(case: Case, layer: int) -> list[str]:
    last = case.model.cfg.n_layers - 1
    block, final = f"blocks.{last}", ("ln_final.hook_scale", "ln_final.hook_normalized")
    names = [f"blocks.{layer}.hook_resid_pre", f"{block}.attn.hook_z", f"{block}.attn.hook_pattern"]
    names += [f"{block}.hook_resid_post", *final, "hook_unembed"]
    assert set(names) <= set(case.model.hook_dict)
    return names


def layer_of(layer: int | None) -> int:
    assert layer is not None, "every intervention here acts in a block"
    return layer


def check_resumes(case: Case, specs: Sequence[Intervention]) -> None:
    missing = [s.node for s in specs if not case.graph.has(s.node.split(".N")[0])]
    if missing:  # resid_mid: a parallel block has none, and the graph refuses it
        assert case.graph.parallel_attn_mlp and all(m.endswith("resid_mid") for m in missing)
        with pytest.raises(TranspectorError, match="unknown node"):
            resolve(case.graph, missing[0])
        return
    layer = min(layer_of(resolve(case.graph, s.node).layer) for s in specs)
    hooks = intervention_hooks(case, specs)
    assert min(layer_of(hook_layer(name, case.model.cfg.n_layers)) for name, _ in hooks) == layer
    capture = captures_after(case, layer)
    full, expected = forward(case.model, case.tokens, hooks, capture)
    assert (full - case.clean).abs().max() > 1e-4, "the intervention must change the logits"
    found: dict[str, torch.Tensor] = {}

    def keep(act: torch.Tensor, hook: Any, name: str) -> None:
        found[name] = act

    keepers = [(name, partial(keep, name=name)) for name in capture]
    resumed = resume_forward(
        case.model, case.resid_pre[layer], case.kwargs, layer, [*hooks, *keepers]
    )
    assert resumed.shape == full.shape
    assert float((resumed - full).abs().max()) <= 1e-5
    assert set(found) == set(expected)
    for name in capture:
        assert float((found[name] - expected[name]).abs().max()) <= 1e-5, name


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: f"{s.kind}-{s.node}-{s.positions}")
def test_resumed_equals_full_forward(case: Case, spec: Intervention) -> None:
    check_resumes(case, [spec])


def test_several_interventions_resume_at_the_earliest(case: Case) -> None:
    last = case.model.cfg.n_layers - 1
    check_resumes(case, [Ablate(id="x", node=f"L{last}.H0"), Ablate(id="y", node="L1.mlp")])


def test_resumed_blocks_fire_every_hook_a_full_forward_does(case: Case) -> None:
    n = case.model.cfg.n_layers
    names = [name for name in case.model.hook_dict if (hook_layer(name, n) or -1) >= 1]
    fired: dict[str, list[str]] = {"full": [], "resumed": []}

    def note(act: torch.Tensor, hook: Any, run: str) -> None:
        fired[run].append(hook.name)

    optional = ("hook_mlp_in", "hook_attn_in", "_input", "hook_result")  # off unless enabled
    names = [name for name in names if not name.endswith(optional)]
    forward(case.model, case.tokens, [(name, partial(note, run="full")) for name in names], [])
    hooks = [(name, partial(note, run="resumed")) for name in names]
    resume_forward(case.model, case.resid_pre[1], case.kwargs, 1, hooks)
    assert fired["resumed"] == fired["full"]
    assert {"ln_final.hook_scale", "ln_final.hook_normalized", "unembed.hook_out"} <= set(
        fired["full"]
    )


def test_can_resume_every_layout(case: Case) -> None:
    assert can_resume(case.model) is None


def test_hooks_that_cannot_fire_are_refused(case: Case) -> None:
    def noop(act: torch.Tensor, hook: Any) -> None:
        return None

    for name in ("blocks.0.hook_resid_post", "hook_embed"):
        with pytest.raises(ValueError, match="fire before block 1"):
            resume_forward(case.model, case.resid_pre[1], case.kwargs, 1, [(name, noop)])
    with pytest.raises(ValueError, match="tokens"):
        resume_forward(case.model, case.resid_pre[1][:, :-1], case.kwargs, 1, [])


def test_capture_removes_its_hooks_even_on_error(tiny_model: Any) -> None:
    def counts() -> list[int]:
        return [len(block._forward_pre_hooks) for block in tiny_model.blocks]

    before = counts()
    with pytest.raises(RuntimeError), capture_block_kwargs(tiny_model):
        assert counts() == [n + 1 for n in before]
        raise RuntimeError("boom")
    assert counts() == before


def test_models_that_cannot_resume_say_why(tmp_path: Path) -> None:
    capped = boot_tiny(tmp_path / "a", output_logits_soft_cap=30.0)
    assert "soft-caps" in str(can_resume(capped))
    # The same model with the config silent about its cap: the numeric check still catches it.
    hidden = boot_tiny(tmp_path / "b", output_logits_soft_cap=30.0)
    hidden.cfg.output_logits_soft_cap = -1.0
    assert "differ from a full forward" in str(can_resume(hidden))
    assert "no blocks" in str(can_resume(torch.nn.Linear(2, 2)))
