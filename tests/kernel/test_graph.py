"""The graph comes from the model: tiny real bridges of each architecture, checked against their
hook points, a real cache, and the arithmetic of their residual stream."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import torch

from tests.conftest import boot_tiny
from tests.tiny_models import byte_tokenizer
from transpector.errors import TranspectorError
from transpector.kernel.graph import build_graph
from transpector.kernel.targets import resolve
from transpector.protocol.graph import GraphNode, GraphSpec

PROMPT = "hello"
N_LAYERS, N_HEADS = 2, 4
RESIDUAL_KINDS = {"resid_pre", "resid_mid", "resid_post"}


@dataclass(frozen=True)
class Arch:
    """What a tiny model of this architecture really has, written down by hand."""

    native: dict[str, Any] | None = None  # boot_native overrides; None: a Hugging Face model
    hf: str = ""
    pos_embed: bool = True
    normalization: str = "LN"
    mlp: bool = True
    resid_mid: bool = True
    ln2: bool = True
    n_kv_heads: int = N_HEADS
    parallel: bool = False


ARCHS = {
    "sequential": Arch(native={}),
    # boot_native accepts parallel_attn_mlp=True but its blocks still run sequentially (the MLP
    # reads resid_mid, see test_native_parallel_flag_is_drawn_as_it_computes).
    "native_parallel_flag": Arch(native={"parallel_attn_mlp": True}),
    "rotary_gqa_rms": Arch(
        native={
            "positional_embedding_type": "rotary",
            "n_key_value_heads": 2,
            "normalization_type": "RMS",
        },
        pos_embed=False,
        normalization="RMS",
        n_kv_heads=2,
    ),
    "attn_only": Arch(native={"attn_only": True}, mlp=False, resid_mid=False, ln2=False),
    "no_norm": Arch(native={"normalization_type": None}, normalization="none", ln2=False),
    "neox_parallel": Arch(hf="neox", pos_embed=False, resid_mid=False, parallel=True),
    "gptj_parallel": Arch(hf="gptj", pos_embed=False, resid_mid=False, ln2=False, parallel=True),
}


def boot(arch: Arch, folder: Path) -> Any:
    if arch.native is not None:
        return boot_tiny(folder, n_layers=N_LAYERS, n_heads=N_HEADS, **arch.native)
    tok = byte_tokenizer(folder)
    from transformers import GPTJConfig, GPTJForCausalLM, GPTNeoXConfig, GPTNeoXForCausalLM

    torch.manual_seed(0)
    ids = dict(vocab_size=len(tok), bos_token_id=0, eos_token_id=0)
    if arch.hf == "neox":
        GPTNeoXForCausalLM(
            GPTNeoXConfig(
                hidden_size=64,
                num_hidden_layers=N_LAYERS,
                num_attention_heads=N_HEADS,
                intermediate_size=256,
                max_position_embeddings=64,
                use_parallel_residual=True,
                **ids,
            )
        ).save_pretrained(folder)
    else:
        GPTJForCausalLM(
            GPTJConfig(
                n_embd=64,
                n_layer=N_LAYERS,
                n_head=N_HEADS,
                n_inner=256,
                n_positions=64,
                rotary_dim=8,
                **ids,
            )
        ).save_pretrained(folder)
    from transformer_lens.model_bridge import TransformerBridge

    return TransformerBridge.boot_transformers(str(folder), device="cpu", tokenizer=tok)


@dataclass
class Case:
    arch: Arch
    model: Any
    spec: GraphSpec
    logits: torch.Tensor
    cache: Any


def _case(name: str, tmp_path_factory: pytest.TempPathFactory) -> Case:
    arch = ARCHS[name]
    model = boot(arch, tmp_path_factory.mktemp(name))
    with torch.inference_mode():
        logits, cache = model.run_with_cache(PROMPT)
    return Case(arch, model, build_graph(model), logits, cache)


@pytest.fixture(scope="module", params=list(ARCHS))
def case(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Case:
    return _case(request.param, tmp_path_factory)


@pytest.fixture(scope="module", params=[name for name, arch in ARCHS.items() if arch.parallel])
def parallel_case(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Case:
    return _case(request.param, tmp_path_factory)


def expected_ids(arch: Arch, n_layers: int, n_heads: int) -> set[str]:
    norm = arch.normalization != "none"
    ids = {"prompt", "tokens", "embed", "unembed", "outputs"}
    ids |= {"pos_embed"} if arch.pos_embed else set()
    ids |= {"ln_final"} if norm else set()
    for l in range(n_layers):  # noqa: E741
        ids |= {f"L{l}.resid_pre", f"L{l}.attn", f"L{l}.resid_post"}
        ids |= {f"L{l}.H{h}" for h in range(n_heads)}
        ids |= {f"L{l}.ln1"} if norm else set()
        ids |= {f"L{l}.mlp"} if arch.mlp else set()
        ids |= {f"L{l}.resid_mid"} if arch.resid_mid else set()
        ids |= {f"L{l}.ln2"} if arch.ln2 and norm else set()
    return ids


def input_hook(node: GraphNode) -> str | None:
    """The TL hook that fires on what this node reads (None where TL has none)."""
    block = f"blocks.{node.layer}"
    return {
        "ln1": f"{block}.ln1.hook_in",
        "ln2": f"{block}.ln2.hook_in",
        "head": f"{block}.attn.hook_in",
        "mlp": f"{block}.mlp.hook_in",
        "ln_final": "ln_final.hook_in",
        "unembed": "unembed.hook_in",
    }.get(node.kind)


def out_activation(spec: GraphSpec, cache: Any, node_id: str) -> torch.Tensor:
    node = spec.node(node_id)
    tensor = cache[node.hooks["out"]]
    return tensor[:, :, node.head] if node.kind == "head" else tensor


def stream_activation(spec: GraphSpec, cache: Any, node_id: str) -> torch.Tensor:
    """What flows along an edge out of the node: a norm's output after its learned weight."""
    node = spec.node(node_id)
    return (
        cache[node.hooks["affine"]]
        if "affine" in node.hooks
        else out_activation(spec, cache, node_id)
    )


def check_structure(spec: GraphSpec, hook_dict: dict[str, Any], cache: Any) -> None:
    ids = [node.id for node in spec.nodes]
    assert len(ids) == len(set(ids))
    for node in spec.nodes:
        for hook in node.hooks.values():
            assert hook in hook_dict, (node.id, hook)
            assert hook in cache, f"{node.id}: {hook} exists but never fires"
    order = {node_id: i for i, node_id in enumerate(ids)}
    children: dict[str, list[str]] = defaultdict(list)
    for edge in spec.edges:
        assert edge.source in order and edge.target in order, edge
        assert order[edge.source] < order[edge.target], f"not topological: {edge}"  # so acyclic
        children[edge.source].append(edge.target)
    seen, todo = {"prompt"}, ["prompt"]
    while todo:
        for child in children[todo.pop()]:
            if child not in seen:
                seen.add(child)
                todo.append(child)
    assert seen == set(ids), set(ids) - seen
    assert all(children[node_id] for node_id in ids if node_id != "outputs"), "dead ends"


def check_shapes(spec: GraphSpec, cache: Any, tokens: torch.Tensor, logits: torch.Tensor) -> None:
    batch, pos = tokens.shape
    real = {"prompt": [batch], "tokens": list(tokens.shape), "outputs": list(logits.shape)}
    for node in spec.nodes:
        shape = [
            {"batch": batch, "pos": pos}.get(d, d) if isinstance(d, str) else d for d in node.shape
        ]
        expected = real.get(node.id) or list(out_activation(spec, cache, node.id).shape)
        assert shape == expected, node.id


def check_dataflow(spec: GraphSpec, cache: Any, atol: float = 1e-5) -> None:
    """Each residual node is the sum of what flows into it; each reader sees its source."""
    incoming: dict[str, list[str]] = defaultdict(list)
    for edge in spec.edges:
        if edge.kind in ("write", "residual"):
            incoming[edge.target].append(edge.source)
        target = spec.node(edge.target)
        if edge.kind == "read" and (hook := input_hook(target)) is not None:
            seen = stream_activation(spec, cache, edge.source)
            assert torch.allclose(cache[hook], seen, atol=atol), (
                f"{edge.target} reads {edge.source}"
            )
    for node in spec.nodes:
        if node.kind in RESIDUAL_KINDS:
            total = sum(out_activation(spec, cache, s) for s in incoming[node.id])
            real = out_activation(spec, cache, node.id)
            assert torch.allclose(real, total, atol=atol, rtol=1e-4), (node.id, incoming[node.id])


def check_heads_read_their_kv_head(spec: GraphSpec, cache: Any, n_kv_heads: int) -> None:
    """z of query head h is its pattern times the values of the KV head the graph names."""
    for node in spec.nodes:
        if node.kind != "head":
            continue
        kv = node.head if n_kv_heads == spec.n_heads else node.kv_head
        assert kv is not None
        pattern = cache[node.hooks["pattern"]][:, node.head]  # [batch, q, k]
        values = cache[node.hooks["v"]][:, :, kv]  # [batch, k, d_head]
        z = out_activation(spec, cache, node.id)
        assert torch.allclose(z, pattern @ values, atol=1e-4), node.id


def test_node_ids_are_what_the_architecture_has(case: Case) -> None:
    assert {node.id for node in case.spec.nodes} == expected_ids(case.arch, N_LAYERS, N_HEADS)


def test_hooks_exist_and_edges_form_a_dag_from_the_prompt(case: Case) -> None:
    check_structure(case.spec, case.model.hook_dict, case.cache)


def test_out_shapes_match_real_activations(case: Case) -> None:
    check_shapes(case.spec, case.cache, case.model.to_tokens(PROMPT), case.logits)


def test_edges_match_the_real_dataflow(case: Case) -> None:
    check_dataflow(case.spec, case.cache)


def test_config_fields(case: Case) -> None:
    spec, cfg, arch = case.spec, case.model.cfg, case.arch
    assert (spec.n_layers, spec.n_heads, spec.d_model, spec.d_head) == (N_LAYERS, N_HEADS, 64, 16)
    assert (spec.n_kv_heads, spec.normalization) == (arch.n_kv_heads, arch.normalization)
    assert spec.parallel_attn_mlp is arch.parallel
    assert spec.attn_only is (not arch.mlp)
    assert spec.d_mlp == (256 if arch.mlp else None)
    assert spec.d_vocab == case.logits.shape[-1] and spec.n_ctx == cfg.n_ctx
    assert spec.positional == ("standard" if arch.pos_embed else "rotary")


def test_heads_read_their_kv_head(case: Case) -> None:
    check_heads_read_their_kv_head(case.spec, case.cache, case.arch.n_kv_heads)
    kv_heads = [case.spec.node(f"L1.H{h}").kv_head for h in range(N_HEADS)]
    assert kv_heads == ([0, 0, 1, 1] if case.arch.n_kv_heads == 2 else [None] * N_HEADS)
    assert case.cache["blocks.1.attn.hook_v"].shape[2] == case.arch.n_kv_heads


def test_parallel_blocks_read_resid_pre_on_both_sides(parallel_case: Case) -> None:
    case = parallel_case
    edges = {(e.source, e.target, e.kind) for e in case.spec.edges}
    assert ("L1.resid_pre", "L1.ln1", "read") in edges
    mlp_reader = "L1.ln2" if case.arch.ln2 else "L1.ln1"
    assert ("L1.resid_pre", "L1.ln2", "read") in edges or not case.arch.ln2
    assert (mlp_reader, "L1.mlp", "read") in edges
    assert {("L1.attn", "L1.resid_post", "write"), ("L1.mlp", "L1.resid_post", "write")} <= edges
    assert ("L1.resid_pre", "L1.resid_post", "residual") in edges


def test_native_parallel_flag_is_drawn_as_it_computes(tmp_path: Path) -> None:
    model = boot(ARCHS["native_parallel_flag"], tmp_path)
    with torch.inference_mode():
        _, cache = model.run_with_cache(PROMPT)
    assert model.cfg.parallel_attn_mlp
    # The fact the graph follows: the MLP side reads the stream after attention, not resid_pre.
    assert torch.allclose(cache["blocks.1.ln2.hook_in"], cache["blocks.1.hook_resid_mid"])
    assert not torch.allclose(cache["blocks.1.ln2.hook_in"], cache["blocks.1.hook_resid_pre"])
    spec = build_graph(model)
    edges = {(e.source, e.target) for e in spec.edges}
    assert ("L1.resid_mid", "L1.ln2") in edges and ("L1.resid_pre", "L1.ln2") not in edges


def test_every_node_but_norms_and_ends_is_targetable_and_resolve_agrees(case: Case) -> None:
    not_targets = {"prompt", "tokens", "ln1", "ln2", "ln_final", "unembed", "outputs"}
    for node in case.spec.nodes:
        assert node.targetable is (node.kind not in not_targets), node.id
        if node.targetable:
            assert resolve(case.spec, node.id).hook == node.hooks["out"]
        else:
            with pytest.raises(TranspectorError, match="interventions act on"):
                resolve(case.spec, node.id)


def test_spec_lookup_and_round_trip(case: Case) -> None:
    spec = case.spec
    assert spec.node("L0.H3").label == "L0 H3" and spec.has("L1.attn")
    assert not spec.has("L9.attn")
    with pytest.raises(KeyError, match=r"L9\.attn"):
        spec.node("L9.attn")
    again = GraphSpec.model_validate_json(spec.model_dump_json())
    assert again == spec and again.node("unembed") == spec.node("unembed")


@pytest.mark.default_model
def test_default_model_graph(default_model: Any) -> None:
    spec = build_graph(default_model)
    cfg = default_model.cfg
    assert (spec.n_layers, spec.n_heads, spec.n_kv_heads) == (30, 9, 3)
    assert (spec.normalization, spec.positional) == ("RMS", "rotary")
    assert not spec.has("pos_embed") and not spec.parallel_attn_mlp
    assert {node.id for node in spec.nodes} == expected_ids(
        Arch(pos_embed=False, normalization="RMS", n_kv_heads=3), 30, 9
    )
    assert [spec.node(f"L29.H{h}").kv_head for h in range(9)] == [0, 0, 0, 1, 1, 1, 2, 2, 2]
    assert spec.d_mlp == cfg.d_mlp and spec.d_vocab == cfg.d_vocab
    with torch.inference_mode():
        logits, cache = default_model.run_with_cache(PROMPT)
    check_structure(spec, default_model.hook_dict, cache)
    check_shapes(spec, cache, default_model.to_tokens(PROMPT), logits)
    check_dataflow(spec, cache, atol=1e-3)
    check_heads_read_their_kv_head(spec, cache, 3)
