"""Activation patching sweeps against plain TransformerLens: every cell equals a single patched
forward of the corrupt prompt (clean activations from ``run_with_cache``, one hook through
``model.hooks``), and TransformerLens's own ``transformer_lens.patching`` sweeps agree.

The pair "hello world" / "hello wurld" differs in one token (position 8, after the BOS): the
residual stream entering block 0 differs only there, so patching resid_pre of layer 0 at
position 8 is the whole residual patch (the patched run is the clean run: 1, up to float
rounding), and every cell before position 8 patches a value equal to the corrupt one (exactly 0:
the tool needs no forward for it, and the single forwards agree).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
import transformer_lens.patching as tl_patching

from tests.conftest import boot_tiny
from tests.kernel.test_resume import hf_gemma2, neox_parallel
from tests.tiny_models import byte_tokenizer, tiny_llama_dir
from transpector.kernel.adapter.batched import bytes_per_copy, prefix_name
from transpector.kernel.session import Session
from transpector.kernel.tools import patching
from transpector.kernel.tools.patching import ACTIVATION_PATCHING
from transpector.kernel.tools.patching_cells import Cell, shared_prefix
from transpector.protocol.interventions import Patch
from transpector.protocol.patching import PatchingArgs, PatchingResult

CLEAN, CORRUPT, DIFFERS_AT = "hello world", "hello wurld", 8
SWEEPS = ["resid_pre", "attn_out", "mlp_out", "head_out", "head_out_by_pos", "head_pattern",
          "q", "k", "v"]  # fmt: skip
HOOKS = {"resid_pre": "blocks.{l}.hook_resid_pre", "attn_out": "blocks.{l}.hook_attn_out",
         "mlp_out": "blocks.{l}.hook_mlp_out", "head_out": "blocks.{l}.attn.hook_z",
         "head_out_by_pos": "blocks.{l}.attn.hook_z",
         "head_pattern": "blocks.{l}.attn.hook_pattern", "q": "blocks.{l}.attn.hook_q",
         "k": "blocks.{l}.attn.hook_k", "v": "blocks.{l}.attn.hook_v"}  # fmt: skip
ALL = slice(None)


def rotary_gqa_rms(folder: Path) -> Any:
    return boot_tiny(
        folder, positional_embedding_type="rotary", n_key_value_heads=2, normalization_type="RMS"
    )


def hf_llama(folder: Path) -> Any:
    """A Hugging Face Llama through boot_transformers (SmolLM2's path): its blocks take an
    attention mask and rotary tables, which batched forwards must broadcast over copies."""
    from transformer_lens.model_bridge import TransformerBridge

    return TransformerBridge.boot_transformers(str(tiny_llama_dir(folder)), device="cpu")


MODELS: dict[str, Callable[[Path], Any]] = {
    "ln": boot_tiny, "rotary_gqa_rms": rotary_gqa_rms, "hf_llama": hf_llama,
}  # fmt: skip


@pytest.fixture(scope="module", params=list(MODELS))
def model(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Any:
    # eval(): transformer_lens.patching refuses a model in training mode (no dropout here).
    return MODELS[request.param](tmp_path_factory.mktemp(request.param)).eval()


def logit_diff_ids(model: Any) -> tuple[int, int]:
    encode = model.tokenizer.encode
    return encode("d", add_special_tokens=False)[0], encode("x", add_special_tokens=False)[0]


def logit_diff(model: Any) -> Callable[[torch.Tensor], torch.Tensor]:
    """logit('d') - logit('x') at the last position of logits [batch, pos, d_vocab]."""
    a, b = logit_diff_ids(model)
    return lambda logits: logits[0, -1, a] - logits[0, -1, b]


def sweep_session(model: Any) -> Session:
    session = Session(model)
    session.add_pair(CLEAN, CORRUPT)
    session.set_metric("logit_diff", correct="d", wrong="x")
    return session


def reference_index(sweep: str, cell: tuple[int, ...]) -> tuple[Any, ...]:
    """Cell (layer, a[, b]) of the grid as an index into the hook's [batch, ...] activation."""
    if sweep in ("resid_pre", "attn_out", "mlp_out"):
        return (ALL, cell[1])  # [batch, pos, d_model]
    if sweep == "head_out_by_pos":
        return (ALL, cell[2], cell[1])  # z [batch, pos, head, d_head]: head cell[1], pos cell[2]
    if sweep == "head_pattern":
        return (ALL, cell[1])  # [batch, head, query, key]
    return (ALL, ALL, cell[1])  # z, q, k, v [batch, pos, head, d_head]


def single_patched(
    model: Any,
    cache: Any,
    sweep: str,
    cell: tuple[int, ...],
    metric: Callable[[torch.Tensor], torch.Tensor],
) -> float:
    """One cell computed on its own: a full forward of the corrupt prompt with one hook that
    writes the clean run's value (from ``cache``)."""
    index = reference_index(sweep, cell)

    def put(act: torch.Tensor, hook: Any) -> torch.Tensor:
        act = act.clone()
        act[index] = cache[hook.name][index]
        return act

    hook = HOOKS[sweep].format(l=cell[0])
    with torch.inference_mode(), model.hooks(fwd_hooks=[(hook, put)]):
        return float(metric(model(model.to_tokens(CORRUPT))))


def plain_value(model: Any, prompt: str, metric: Callable[[torch.Tensor], torch.Tensor]) -> float:
    with torch.inference_mode():
        return float(metric(model(model.to_tokens(prompt))))


def assert_cells_match_single_forwards(model: Any, result: PatchingResult) -> None:
    metric = logit_diff(model)
    clean, corrupt = plain_value(model, CLEAN, metric), plain_value(model, CORRUPT, metric)
    assert result.clean_value == pytest.approx(clean, abs=1e-4)
    assert result.corrupt_value == pytest.approx(corrupt, abs=1e-4)
    grid = torch.tensor(result.raw).reshape(result.shape)
    normalized = torch.tensor(result.values).reshape(result.shape)
    _, cache = model.run_with_cache(model.to_tokens(CLEAN))
    for cell in torch.ones(result.shape).nonzero().tolist():
        expected = single_patched(model, cache, result.sweep, tuple(cell), metric)
        assert float(grid[tuple(cell)]) == pytest.approx(expected, abs=1e-4), cell
        share = (expected - corrupt) / (clean - corrupt)
        assert float(normalized[tuple(cell)]) == pytest.approx(share, abs=1e-4), cell


def differing_per_layer(model: Any, result: PatchingResult) -> list[int]:
    """Per layer, the cells whose clean value differs from the corrupt run's: those need a
    forward (the others patch in what is already there)."""
    _, clean = model.run_with_cache(model.to_tokens(CLEAN))
    _, corrupt = model.run_with_cache(model.to_tokens(CORRUPT))
    counts = [0] * result.shape[0]
    for cell in torch.ones(result.shape).nonzero().tolist():
        hook = HOOKS[result.sweep].format(l=result.layers[cell[0]])
        index = reference_index(result.sweep, tuple(cell))
        counts[cell[0]] += not torch.equal(clean[hook][index], corrupt[hook][index])
    return counts


@pytest.mark.parametrize("sweep", SWEEPS)
def test_every_cell_equals_a_single_patched_forward(model: Any, sweep: str) -> None:
    result = sweep_session(model).tools.activation_patching(sweep=sweep, copies_per_forward=5)
    assert isinstance(result, PatchingResult)
    assert_cells_match_single_forwards(model, result)
    runs = differing_per_layer(model, result)
    assert result.resumed and result.forwards == sum(-(-n // 5) for n in runs)
    assert result.copies_per_forward == min(5, max(runs))
    assert result.skipped == len(result.raw) - sum(runs)
    n_kv = model.cfg.n_key_value_heads or model.cfg.n_heads
    if sweep in ("k", "v") and n_kv < model.cfg.n_heads:  # grouped-query: one cell per kv head
        assert result.axes == ["layer", "kv_head"] and result.shape == [model.cfg.n_layers, n_kv]


def test_a_model_that_cannot_resume_runs_full_batched_forwards(tmp_path: Path) -> None:
    """Soft-capped logits are computed outside the blocks: no forward may start at a block."""
    capped = boot_tiny(tmp_path, output_logits_soft_cap=3.0).eval()
    result = sweep_session(capped).tools.activation_patching(sweep="resid_pre")
    assert isinstance(result, PatchingResult)
    assert not result.resumed and result.note.startswith("full forwards: the model soft-caps")
    assert_cells_match_single_forwards(capped, result)


def test_chunks_and_the_memory_budget_change_only_the_forwards(model: Any) -> None:
    session = sweep_session(model)
    sweep = "head_out_by_pos"  # 48 cells per layer

    def run(**args: Any) -> PatchingResult:
        result = session.tools.activation_patching(sweep=sweep, **args)
        assert isinstance(result, PatchingResult)
        return result

    whole, single, budget = run(), run(copies_per_forward=1), run(memory_mb=1)
    runs = differing_per_layer(model, whole)
    assert runs == [16, 16]  # positions 8..11 of each head; before 8 nothing differs
    copies = 2**20 // bytes_per_copy(model.cfg, 12, resumed=True)
    assert (whole.forwards, whole.copies_per_forward, whole.skipped) == (2, 16, 64)
    assert (single.forwards, single.copies_per_forward) == (32, 1)
    assert budget.copies_per_forward == min(copies, 16) and budget.forwards == 2 * -(-16 // copies)
    for other in (single, budget):
        assert other.raw == pytest.approx(whole.raw, abs=1e-5)
    grid = whole.grid()  # [layer][head][position], row-major like raw
    assert whole.axes == ["layer", "head", "position"] and whole.shape == [2, 4, 12]
    assert whole.values is not None and grid[1][2][5] == whole.values[1 * 48 + 2 * 12 + 5]


def test_progress_after_each_forward_and_the_interventions_left_out(model: Any) -> None:
    session = sweep_session(model)
    plain = session.tools.activation_patching(copies_per_forward=2)
    session.prompt = CLEAN
    session.ablate("L0.H1")
    session.add(Patch(node="L1.resid_pre", source="L1.resid_pre", source_prompt=CORRUPT))
    before = session.version, session.hooks()
    assert ACTIVATION_PATCHING.steps is not None
    steps = ACTIVATION_PATCHING.steps(session, PatchingArgs(copies_per_forward=2))
    seen = []
    with pytest.raises(StopIteration) as end:
        while True:
            seen.append(next(steps))
    # Layer 0's input differs at position 8 only, layer 1's at 8..11: 19 cells need no forward.
    assert [(s.done, s.total, s.label) for s in seen] == [
        (0, 24, "clean and corrupt runs"), (20, 24, "L0 resid_pre"), (22, 24, "L1 resid_pre"),
        (24, 24, "L1 resid_pre"),
    ]  # fmt: skip
    assert end.value.value.skipped == 19 and end.value.value.forwards == 3
    assert end.value.value == plain  # the model as it is: no intervention applied
    assert (session.version, session.hooks()) == before


def test_the_whole_residual_patch_gives_one_and_unchanged_values_give_zero(model: Any) -> None:
    """TopProb (the session's default metric): p of the clean prompt's top token."""
    session = Session(model)
    session.add_pair(CLEAN, CORRUPT)
    result = session.tools.activation_patching(sweep="resid_pre")
    assert isinstance(result, PatchingResult)
    assert result.values is not None
    grid = result.grid()
    # The patched run is the clean run up to float rounding (the batched forward's matmuls
    # differ from a single forward's in the last bits): p within 1e-7, so 1 within 1e-4 here
    # where clean and corrupt p differ by a few thousandths.
    assert result.raw[DIFFERS_AT] == pytest.approx(result.clean_value, abs=1e-7)
    assert grid[0][DIFFERS_AT] == pytest.approx(1.0, abs=1e-4)
    for position in set(range(len(grid[0]))) - {DIFFERS_AT}:
        assert grid[0][position] == 0.0, position  # the very corrupt run
    for layer_row in grid:  # causal: nothing before the differing token differs
        assert layer_row[:DIFFERS_AT] == [0.0] * DIFFERS_AT
    with torch.inference_mode():
        top = int(model(model.to_tokens(CLEAN))[0, -1].argmax())
        probs = model(model.to_tokens(CORRUPT))[0, -1].softmax(-1)
    (top_text,) = session._adapter.decode([top])  # as every token text shows (<0x..> bytes)
    assert result.metric_label == f"p({top_text!r})"
    assert result.corrupt_value == pytest.approx(float(probs[top]), abs=1e-6)


# transformer_lens.patching's sweep for each of ours, and how to lay its grid out like ours.
TL_SWEEPS: dict[str, tuple[Callable[..., torch.Tensor], tuple[int, ...] | None]] = {
    "resid_pre": (tl_patching.get_act_patch_resid_pre, None),
    "attn_out": (tl_patching.get_act_patch_attn_out, None),
    "mlp_out": (tl_patching.get_act_patch_mlp_out, None),
    "head_out": (tl_patching.get_act_patch_attn_head_out_all_pos, None),
    "head_out_by_pos": (tl_patching.get_act_patch_attn_head_out_by_pos, (0, 2, 1)),  # [l, p, h]
    "head_pattern": (tl_patching.get_act_patch_attn_head_pattern_all_pos, None),
    "q": (tl_patching.get_act_patch_attn_head_q_all_pos, None),
    "k": (tl_patching.get_act_patch_attn_head_k_all_pos, None),
    "v": (tl_patching.get_act_patch_attn_head_v_all_pos, None),
}


@pytest.mark.parametrize("sweep", SWEEPS)
def test_transformer_lens_patching_agrees(model: Any, sweep: str) -> None:
    fn, order = TL_SWEEPS[sweep]
    _, cache = model.run_with_cache(model.to_tokens(CLEAN))
    expected = fn(model, model.to_tokens(CORRUPT), cache, logit_diff(model))
    if order is not None:
        expected = expected.permute(*order)
    result = sweep_session(model).tools.activation_patching(sweep=sweep)
    assert isinstance(result, PatchingResult)
    assert list(expected.shape) == result.shape
    got = torch.tensor(result.raw).reshape(result.shape)
    assert torch.allclose(got, expected.float(), atol=1e-4), (got - expected).abs().max()


def gpt2(folder: Path) -> Any:
    """A Hugging Face GPT-2: joint q/k/v projection, learned positions, a cache it calls
    layer_past."""
    from transformer_lens.model_bridge import TransformerBridge
    from transformers import GPT2Config, GPT2LMHeadModel

    tokenizer = byte_tokenizer(folder)
    torch.manual_seed(0)
    config = GPT2Config(vocab_size=len(tokenizer), n_embd=64, n_layer=2, n_head=4, n_positions=64,
                        bos_token_id=0, eos_token_id=0)  # fmt: skip
    GPT2LMHeadModel(config).save_pretrained(folder)
    return TransformerBridge.boot_transformers(str(folder), device="cpu", tokenizer=tokenizer)


PREFIX_MODELS: dict[str, Callable[[Path], Any]] = {
    "hf_llama": hf_llama, "neox_parallel": neox_parallel, "gemma2_sliding": hf_gemma2,
    "gpt2": gpt2,
}  # fmt: skip


@pytest.mark.parametrize("name", list(PREFIX_MODELS))
def test_forwards_of_the_positions_after_the_shared_prefix_equal_single_forwards(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Hugging Face blocks take the corrupt run's keys and values of positions 0..7 (the same in
    every patched run): forwards run positions 8..11 alone, and every cell is still a single
    patched forward's value, and what forwards of every position give."""
    model = PREFIX_MODELS[name](tmp_path).eval()
    assert prefix_name(Session(model).adapter) is not None
    runs = {}
    for sweep in SWEEPS:
        runs[sweep] = sweep_session(model).tools.activation_patching(sweep=sweep)
        assert isinstance(runs[sweep], PatchingResult)
        assert_cells_match_single_forwards(model, runs[sweep])
    monkeypatch.setattr(patching, "prefix_name", lambda adapter: None)
    for sweep in SWEEPS:
        every = sweep_session(model).tools.activation_patching(sweep=sweep)
        assert isinstance(every, PatchingResult)
        assert every.raw == pytest.approx(runs[sweep].raw, abs=1e-5), sweep


def test_native_blocks_drop_the_cache_so_forwards_run_every_position(model: Any) -> None:
    found = prefix_name(Session(model).adapter)
    assert (found is None) == (type(model.blocks[0].original_component).__name__ == "NativeBlock")


@pytest.mark.parametrize(("clean", "corrupt", "shared"), [
    ("hello world", "hello worle", 11), ("hello world", "jello world", 1),
    ("hello world", "hello world", 11),
])  # fmt: skip
def test_prompts_that_differ_late_or_early(
    tmp_path: Path, clean: str, corrupt: str, shared: int
) -> None:
    """The last token alone differs (one position runs), the first after BOS (all but BOS run),
    or none (every cell is the corrupt run: no forward)."""
    model = hf_llama(tmp_path).eval()
    tokens = [model.to_tokens(text) for text in (clean, corrupt)]
    cells = [Cell(0, "blocks.0.attn.hook_z", (ALL, 0))]
    assert shared_prefix("head_out", cells, *tokens) == shared
    assert shared_prefix("resid_pre", [Cell(0, "blocks.0.hook_resid_pre", (3,))], *tokens) == min(
        3, shared
    )
    for sweep in SWEEPS:
        session = Session(model)
        session.add_pair(clean, corrupt)
        session.set_metric("logit_diff", correct="d", wrong="x")
        result = session.tools.activation_patching(sweep=sweep, copies_per_forward=3)
        assert isinstance(result, PatchingResult)
        _, cache = model.run_with_cache(tokens[0])
        for cell in torch.ones(result.shape).nonzero().tolist():
            index = reference_index(sweep, tuple(cell))
            hook = HOOKS[sweep].format(l=cell[0])

            def put(act: torch.Tensor, hook: Any, index: Any = index, clean: Any = cache) -> Any:
                act = act.clone()
                act[index] = clean[hook.name][index]
                return act

            with torch.inference_mode(), model.hooks(fwd_hooks=[(hook, put)]):
                expected = float(logit_diff(model)(model(tokens[1])))
            got = torch.tensor(result.raw).reshape(result.shape)[tuple(cell)]
            assert float(got) == pytest.approx(expected, abs=1e-4), (sweep, cell)
        if clean == corrupt:
            assert result.forwards == 0
