"""The model graph the canvas draws: nodes named by DESIGN ids, each carrying its TL hook names.

Derived from a live model by ``transpector.kernel.graph.build_graph``; shapes use the symbolic
dimensions ``"batch"`` and ``"pos"`` and concrete ints for the rest.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, PrivateAttr

NodeKind = Literal[
    "prompt",
    "tokens",
    "embed",
    "pos_embed",
    "resid_pre",
    "ln1",
    "attn",
    "head",
    "resid_mid",
    "ln2",
    "mlp",
    "resid_post",
    "ln_final",
    "unembed",
    "outputs",
]
EdgeKind = Literal["residual", "read", "write"]
NodeDataKind = Literal["pattern", "activation", "norm", "scale"]
Dim = int | str


class GraphNode(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str
    kind: NodeKind
    label: str
    layer: int | None = None
    head: int | None = None
    kv_head: int | None = None
    """Under grouped-query attention, the KV head this query head reads; else None."""
    hooks: dict[str, str]
    """Role -> TransformerLens hook name; ``"out"`` is the node's main activation."""
    shape: list[Dim]
    """Shape of the ``"out"`` activation, e.g. ``["batch", "pos", 64]``."""
    targetable: bool
    """Whether interventions (ablate, isolate, freeze, patch) can act on this node."""
    shows: NodeDataKind | None = None
    """What the node shows by default (``node_data`` without ``what``, the canvas's card)."""


class GraphEdge(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source: str
    target: str
    kind: EdgeKind
    """residual: the stream carried forward; read: a block reads; write: a block writes."""


class GraphSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model_name: str
    n_layers: int
    d_model: int
    n_heads: int
    n_kv_heads: int
    d_head: int
    d_mlp: int | None
    d_vocab: int
    n_ctx: int
    normalization: Literal["LN", "RMS", "none"]
    positional: str
    parallel_attn_mlp: bool
    """True when the graph draws attention and MLP reading the same resid_pre."""
    attn_only: bool
    nodes: list[GraphNode]
    edges: list[GraphEdge]

    _index: dict[str, GraphNode] | None = PrivateAttr(default=None)

    def node(self, node_id: str) -> GraphNode:
        """The node with this id; ``KeyError(node_id)`` when the graph has none."""
        if self._index is None:
            self._index = {node.id: node for node in self.nodes}
        try:
            return self._index[node_id]
        except KeyError:
            raise KeyError(node_id) from None

    def __eq__(self, other: object) -> bool:
        """Equal when the fields are: the lazy node index is a cache, not data."""
        if not isinstance(other, GraphSpec):
            return NotImplemented
        return self.__dict__ == other.__dict__

    def has(self, node_id: str) -> bool:
        try:
            self.node(node_id)
        except KeyError:
            return False
        return True
