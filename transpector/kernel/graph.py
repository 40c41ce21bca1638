"""The model graph, derived from a live model's config and hook names (no hard-coded architecture).

A node is drawn only when its "out" hook exists in ``model.hook_dict``, and a block is drawn as it
computes: a ``hook_resid_mid`` means the MLP reads the stream after attention; without one
(TransformerLens's ``ParallelBlockBridge``) attention and MLP both read ``resid_pre``.
"""

from __future__ import annotations

from typing import Any, Literal

from transpector.kernel.adapter import ModelAdapter
from transpector.kernel.targets import TARGET_KINDS
from transpector.protocol.graph import (
    Dim,
    EdgeKind,
    GraphEdge,
    GraphNode,
    GraphSpec,
    NodeDataKind,
    NodeKind,
)

Normalization = Literal["LN", "RMS", "none"]
NORMALIZATION: dict[str, Normalization] = {"LN": "LN", "LNPRE": "LN", "RMS": "RMS", "RMSPRE": "RMS"}
NORMS = ("ln1", "ln2", "ln_final")


def _norm_hooks(prefix: str) -> dict[str, str]:
    # "out" is TL's canonical hook_normalized (before the learned weight); "affine" is after it.
    roles = {"out": "hook_normalized", "scale": "hook_scale", "affine": "hook_out"}
    return {role: f"{prefix}.{hook}" for role, hook in roles.items()}


B, ATTN = "blocks.{l}", "blocks.{l}.attn"
HEAD_HOOKS = {"out": "z", "pattern": "pattern", "q": "q", "k": "k", "v": "v"}
# kind -> (node id, label, role -> hook name); {l} is the layer, {h} the head; "a|b" names the
# first of a and b that the model has.
# fmt: off
LAYOUT: dict[NodeKind, tuple[str, str, dict[str, str]]] = {
    "prompt": ("prompt", "Prompt", {}),
    "tokens": ("tokens", "Tokens", {}),
    "embed": ("embed", "Embed", {"out": "hook_embed"}),
    "pos_embed": ("pos_embed", "Pos embed", {"out": "hook_pos_embed"}),
    "resid_pre": ("L{l}.resid_pre", "resid_pre {l}", {"out": f"{B}.hook_resid_pre"}),
    "ln1": ("L{l}.ln1", "LN1 {l}", _norm_hooks(f"{B}.ln1")),
    "head": ("L{l}.H{h}", "L{l} H{h}", {r: f"{ATTN}.hook_{h}" for r, h in HEAD_HOOKS.items()}),
    "attn": ("L{l}.attn", "Attn {l}", {"out": f"{B}.hook_attn_out",
                                       "pattern": f"{ATTN}.hook_pattern", "z": f"{ATTN}.hook_z"}),
    "resid_mid": ("L{l}.resid_mid", "resid_mid {l}", {"out": f"{B}.hook_resid_mid"}),
    "ln2": ("L{l}.ln2", "LN2 {l}", _norm_hooks(f"{B}.ln2")),
    "mlp": ("L{l}.mlp", "MLP {l}", {"out": f"{B}.hook_mlp_out", "pre": f"{B}.mlp.hook_pre",
                                    "post": f"{B}.mlp.hook_post"}),
    "resid_post": ("L{l}.resid_post", "resid_post {l}", {"out": f"{B}.hook_resid_post"}),
    "ln_final": ("ln_final", "LN final", _norm_hooks("ln_final")),
    "unembed": ("unembed", "Unembed", {"out": "hook_unembed|unembed.hook_out"}),
    "outputs": ("outputs", "Outputs", {}),
}
# fmt: on


class _Builder:
    def __init__(self, model: ModelAdapter, normalization: Normalization) -> None:
        cfg = self.cfg = model.cfg
        self.hook_names = model.hook_names
        self.normalization = normalization
        self.n_kv_heads: int = cfg.n_key_value_heads or cfg.n_heads
        d_vocab_out = getattr(cfg, "d_vocab_out", -1)
        self.resid: list[Dim] = ["batch", "pos", cfg.d_model]
        logits: list[Dim] = ["batch", "pos", d_vocab_out if d_vocab_out > 0 else cfg.d_vocab]
        self.shapes: dict[str, list[Dim]] = {"prompt": ["batch"], "tokens": ["batch", "pos"]}
        self.shapes |= {"head": ["batch", "pos", cfg.d_head], "unembed": logits, "outputs": logits}
        self.nodes: list[GraphNode] = []
        self.edges: list[GraphEdge] = []
        self.parallel = False  # set once a block draws attention and MLP side by side

    def add(self, kind: NodeKind, layer: int | None = None, head: int | None = None) -> str | None:
        """Adds a node and returns its id, or None when the model lacks its "out" hook."""
        node_id, label, templates = LAYOUT[kind]
        if kind in NORMS and self.normalization == "none":
            return None
        hooks: dict[str, str] = {}
        for role, template in templates.items():
            names = [n for n in template.format(l=layer).split("|") if n in self.hook_names]
            hooks |= {role: names[0]} if names else {}
        if templates and "out" not in hooks:
            return None
        kv_head = None
        if head is not None and self.n_kv_heads < self.cfg.n_heads:
            kv_head = head // (self.cfg.n_heads // self.n_kv_heads)
        self.nodes.append(
            GraphNode(
                id=node_id.format(l=layer, h=head),
                kind=kind,
                label=label.format(l=layer, h=head),
                layer=layer,
                head=head,
                kv_head=kv_head,
                hooks=hooks,
                shape=self.shapes.get(kind, self.resid),
                targetable=kind in TARGET_KINDS,
                shows=_shows(kind, hooks),
            )
        )
        return self.nodes[-1].id

    def required(self, kind: NodeKind, layer: int) -> str:
        node_id = self.add(kind, layer)
        if node_id is None:
            raise ValueError(f"the model has no {kind} hook for layer {layer}: cannot draw it")
        return node_id

    def edge(self, source: str | None, target: str | None, kind: EdgeKind) -> None:
        if source is not None and target is not None:
            self.edges.append(GraphEdge(source=source, target=target, kind=kind))

    def block(self, layer: int, resid_pre: str) -> str:
        """Draws block ``layer`` reading ``resid_pre``; returns its resid_post id."""
        has_mlp = not self.cfg.attn_only and f"blocks.{layer}.hook_mlp_out" in self.hook_names
        parallel = has_mlp and f"blocks.{layer}.hook_resid_mid" not in self.hook_names
        self.parallel |= parallel
        ln1 = self.add("ln1", layer)
        self.edge(resid_pre, ln1, "read")
        heads = [self.add("head", layer, h) for h in range(self.cfg.n_heads)]
        attn = self.add("attn", layer)
        for head in heads:
            self.edge(ln1 or resid_pre, head, "read")
            self.edge(head, attn, "write")
        stream, mlp = resid_pre, None
        if has_mlp and not parallel:
            stream = self.required("resid_mid", layer)
            self.edge(resid_pre, stream, "residual")
            self.edge(attn, stream, "write")
        if has_mlp:
            ln2 = self.add("ln2", layer)
            self.edge(stream, ln2, "read")
            mlp = self.add("mlp", layer)
            # Parallel blocks without ln2 (GPT-J, CodeGen, Cohere) feed ln1's output to the MLP.
            self.edge(ln2 or (ln1 if parallel else None) or stream, mlp, "read")
        resid_post = self.required("resid_post", layer)
        self.edge(stream, resid_post, "residual")
        if mlp is None or parallel:
            self.edge(attn, resid_post, "write")
        self.edge(mlp, resid_post, "write")
        return resid_post


def _shows(kind: NodeKind, hooks: dict[str, str]) -> NodeDataKind | None:
    """What a node shows by default: heads and attention their pattern, a LayerNorm or RMSNorm
    its scale (what it divides each position by), else the activation's norm per position."""
    if kind in ("head", "attn"):
        return "pattern"
    if kind in NORMS and "scale" in hooks:
        return "scale"
    return "norm" if "out" in hooks else None


def build_graph(model: Any) -> GraphSpec:
    """The canvas graph of ``model`` (anything with TransformerLens ``.cfg`` and ``.hook_dict``)."""
    adapter = ModelAdapter(model)
    cfg = adapter.cfg
    normalization = NORMALIZATION.get(str(cfg.normalization_type or "").upper(), "none")
    g = _Builder(adapter, normalization)
    g.edge(g.add("prompt"), g.add("tokens"), "read")
    writers = [g.add("embed")]
    # A rotary model may still list a hook_pos_embed that never fires: trust the config here.
    if cfg.positional_embedding_type == "standard":
        writers.append(g.add("pos_embed"))
    for writer in writers:
        g.edge("tokens", writer, "read")
    stream: str | None = None
    for layer in range(cfg.n_layers):
        resid_pre = g.required("resid_pre", layer)
        if stream is None:  # the embeddings write the first residual stream
            for writer in writers:
                g.edge(writer, resid_pre, "write")
        g.edge(stream, resid_pre, "residual")
        stream = g.block(layer, resid_pre)
    ln_final = g.add("ln_final")
    g.edge(stream, ln_final, "read")
    unembed = g.add("unembed")
    g.edge(ln_final or stream, unembed, "read")
    g.edge(unembed, g.add("outputs"), "write")

    return GraphSpec(
        model_name=str(cfg.model_name or "model"),
        n_layers=cfg.n_layers,
        d_model=cfg.d_model,
        n_heads=cfg.n_heads,
        n_kv_heads=g.n_kv_heads,
        d_head=cfg.d_head,
        d_mlp=None if cfg.attn_only or not cfg.d_mlp else cfg.d_mlp,
        d_vocab=cfg.d_vocab,
        n_ctx=cfg.n_ctx,
        normalization=normalization,
        positional=str(cfg.positional_embedding_type),
        parallel_attn_mlp=g.parallel,
        attn_only=bool(cfg.attn_only),
        nodes=g.nodes,
        edges=g.edges,
    )
