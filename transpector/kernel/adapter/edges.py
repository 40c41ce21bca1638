"""Edges between the graph's nodes, on the bridge: what each sender writes into the residual
stream, the gradient of a scalar at each receiver's own input, and a forward in which chosen
edges carry the values of another run (see ``transpector.protocol.edges``).

Senders: ``embed``, ``pos_embed`` (learned positions), each head (its ``hook_z`` times its W_O)
and each MLP (``hook_mlp_out``). Receivers: each head, each MLP, and the logits (``unembed``).
A receiver's input is the residual stream before its layer norm: ``ln1.hook_in`` for heads,
``ln2.hook_in`` for MLPs (``ln1.hook_in`` where the MLP shares the attention's norm) and
``ln_final.hook_in`` for the logits.

A head's own input is the residual stream as that head alone reads it: its gradient is the
vector-Jacobian product of the layer's ``hook_z`` with the head's slice of d metric / d z, back
to ``ln1.hook_in``; with grouped-query attention this counts the shared key and value heads
only as this head uses them. To run a circuit, one forward carries 1 + n_heads (+ 1) copies of
the prompt: copy 0 is the run; at each layer, copy 1 + h gets head h's own input and copy
1 + n_heads the MLP's, and their outputs are copied into copy 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any

import torch

from transpector.kernel.adapter import ModelAdapter, mark_owned
from transpector.kernel.adapter.gradients import keep_recorded
from transpector.protocol.graph import GraphSpec

Objective = Any  # logits [pos, d_vocab] -> a scalar tensor


@dataclass(frozen=True)
class EdgeGraph:
    """Senders and receivers in order (per layer: heads, then the MLP), and which edges exist:
    ``allowed[s, r]`` when sender s writes before receiver r reads."""

    n_layers: int
    n_heads: int
    has_mlp: bool
    has_pos: bool
    senders: list[str]
    receivers: list[str]
    allowed: torch.Tensor  # [n_send, n_recv] bool
    mlp_in: list[str]  # per layer, the hook of the MLP's input

    def first_sender(self, layer: int) -> int:
        """Index of layer ``layer``'s first head among the senders."""
        return (2 if self.has_pos else 1) + layer * self.per_layer

    @property
    def per_layer(self) -> int:
        return self.n_heads + (1 if self.has_mlp else 0)

    def sender_hooks(self) -> list[str]:
        hooks = ["hook_embed", *(["hook_pos_embed"] if self.has_pos else [])]
        for layer in range(self.n_layers):
            hooks.append(f"blocks.{layer}.attn.hook_z")
            if self.has_mlp:
                hooks.append(f"blocks.{layer}.hook_mlp_out")
        return hooks


def edge_graph(graph: GraphSpec, hook_names: set[str]) -> EdgeGraph:
    n_layers, n_heads = graph.n_layers, graph.n_heads
    has_mlp = not graph.attn_only and graph.d_mlp is not None
    has_pos = any(node.id == "pos_embed" for node in graph.nodes)
    senders = ["embed", *(["pos_embed"] if has_pos else [])]
    send_layer = [-1.0] * len(senders)
    receivers: list[str] = []
    recv_layer: list[float] = []
    mlp_in = []
    for layer in range(n_layers):
        heads = [f"L{layer}.H{h}" for h in range(n_heads)]
        mlps = [f"L{layer}.mlp"] if has_mlp else []
        senders += heads + mlps
        receivers += heads + mlps
        # a sequential block's MLP reads its own layer's heads: place it half a layer later
        mlp_at = layer if graph.parallel_attn_mlp else layer + 0.5
        send_layer += [float(layer)] * n_heads + [mlp_at + 0.25] * len(mlps)
        recv_layer += [float(layer)] * n_heads + [mlp_at] * len(mlps)
        ln2 = f"blocks.{layer}.ln2.hook_in"
        mlp_in.append(ln2 if ln2 in hook_names else f"blocks.{layer}.ln1.hook_in")
    receivers.append("unembed")
    recv_layer.append(float(n_layers))
    allowed = torch.tensor(send_layer)[:, None] < torch.tensor(recv_layer)[None, :]
    return EdgeGraph(n_layers, n_heads, has_mlp, has_pos, senders, receivers, allowed, mlp_in)


def sender_outputs(
    adapter: ModelAdapter, eg: EdgeGraph, acts: dict[str, torch.Tensor]
) -> torch.Tensor:
    """What each sender wrote into the residual stream [n_send, pos, d_model], from a run's
    captures of ``eg.sender_hooks()`` ([pos, ...] each)."""
    w_o = adapter.w_o()
    rows = [acts["hook_embed"][None]]
    if eg.has_pos:
        rows.append(acts["hook_pos_embed"][None])
    for layer in range(eg.n_layers):
        z = acts[f"blocks.{layer}.attn.hook_z"]  # [pos, head, d_head]
        rows.append(torch.einsum("phd,hdm->hpm", z, w_o[layer].to(z.dtype)))
        if eg.has_mlp:
            rows.append(acts[f"blocks.{layer}.hook_mlp_out"][None])
    return torch.cat([row.float() for row in rows])


@dataclass(frozen=True)
class ReceiverGradients:
    logits: torch.Tensor  # [pos, d_vocab]
    outputs: torch.Tensor  # [n_send, pos, d_model]: the senders' outputs on this run
    grads: torch.Tensor  # [n_recv, pos, d_model]: d objective / d each receiver's own input


def receiver_gradients(
    adapter: ModelAdapter, eg: EdgeGraph, tokens: torch.Tensor, objective: Objective
) -> ReceiverGradients:
    """One forward of ``tokens`` [1, pos] without interventions, one backward of
    ``objective(logits)``, and per layer the products back to each receiver's own input."""
    inputs = [f"blocks.{layer}.ln1.hook_in" for layer in range(eg.n_layers)]
    names = list(dict.fromkeys([*eg.sender_hooks(), *inputs, *eg.mlp_in, "ln_final.hook_in"]))
    kept: dict[str, torch.Tensor] = {}
    keepers = [(name, mark_owned(partial(keep_recorded, kept=kept, name=name))) for name in names]
    with torch.inference_mode(False), torch.enable_grad():
        with adapter.model.hooks(fwd_hooks=keepers):
            logits: torch.Tensor = adapter.model(tokens.clone())[0]
        missing = [name for name in names if name not in kept]
        if missing:
            raise ValueError(f"hooks {missing} did not fire in the forward")
        outs = [name for name in eg.sender_hooks() if name.startswith("blocks.")]
        final = kept["ln_final.hook_in"]
        found = torch.autograd.grad(
            objective(logits), [kept[name] for name in outs] + [final], retain_graph=True,
            allow_unused=True,
        )  # fmt: skip
        d_out = {name: _or_zeros(g, kept[name]) for name, g in zip(outs, found, strict=False)}
        grads: list[torch.Tensor] = []
        for layer in range(eg.n_layers):
            z, x = kept[f"blocks.{layer}.attn.hook_z"], kept[inputs[layer]]
            d_z = d_out[f"blocks.{layer}.attn.hook_z"]
            for head in range(eg.n_heads):
                only = torch.zeros_like(d_z)
                only[:, :, head] = d_z[:, :, head]
                grads.append(_vjp(z, x, only))
            if eg.has_mlp:
                out = f"blocks.{layer}.hook_mlp_out"
                grads.append(_vjp(kept[out], kept[eg.mlp_in[layer]], d_out[out]))
        grads.append(_or_zeros(found[-1], final)[0])
    acts = {name: kept[name][0].detach() for name in eg.sender_hooks()}
    return ReceiverGradients(
        logits.detach(), sender_outputs(adapter, eg, acts), torch.stack(grads).float()
    )


def _vjp(output: torch.Tensor, input: torch.Tensor, cotangent: torch.Tensor) -> torch.Tensor:
    (found,) = torch.autograd.grad(
        output, input, grad_outputs=cotangent, retain_graph=True, allow_unused=True
    )
    return _or_zeros(found, input)[0].detach()


def _or_zeros(grad: torch.Tensor | None, like: torch.Tensor) -> torch.Tensor:
    return torch.zeros_like(like) if grad is None else grad


def circuit_logits(
    adapter: ModelAdapter,
    eg: EdgeGraph,
    tokens: torch.Tensor,
    other: torch.Tensor,
    removed: torch.Tensor,
) -> torch.Tensor:
    """Logits [pos, d_vocab] of ``tokens`` [1, pos] where every edge (s, r) with
    ``removed[s, r]`` carries sender s's output of the other run, ``other`` [n_send, pos,
    d_model], instead of its output on this run."""
    mlp_row = 1 + eg.n_heads
    rows = mlp_row + (1 if eg.has_mlp else 0)
    current = torch.zeros_like(other)
    cut = removed.to(other.dtype)

    def minus(receivers: slice | int) -> torch.Tensor:
        """[n, pos, d_model]: what the removed edges into these receivers take away."""
        weights = cut[:, receivers].reshape(cut.shape[0], -1)
        return torch.einsum("sr,spd->rpd", weights, current - other)

    def sender(act: torch.Tensor, hook: Any, index: int) -> None:
        current[index] = act[0].float()

    def inputs(act: torch.Tensor, hook: Any, layer: int, heads: bool, mlp: bool) -> torch.Tensor:
        act = act.clone()
        first = layer * eg.per_layer
        if heads:
            act[1:mlp_row] = act[0] - minus(slice(first, first + eg.n_heads)).to(act.dtype)
        if mlp:
            act[mlp_row] = act[0] - minus(first + eg.n_heads)[0].to(act.dtype)
        return act

    def heads_out(act: torch.Tensor, hook: Any, layer: int) -> torch.Tensor:
        act = act.clone()
        for head in range(eg.n_heads):
            act[0, :, head] = act[1 + head, :, head]
        start = eg.first_sender(layer)
        w_o = adapter.w_o()[layer].to(act.dtype)
        current[start : start + eg.n_heads] = torch.einsum("phd,hdm->hpm", act[0], w_o).float()
        return act

    def mlp_out(act: torch.Tensor, hook: Any, layer: int) -> torch.Tensor:
        act = act.clone()
        act[0] = act[mlp_row]
        current[eg.first_sender(layer) + eg.n_heads] = act[0].float()
        return act

    def final(act: torch.Tensor, hook: Any) -> torch.Tensor:
        act = act.clone()
        act[0] = act[0] - minus(len(eg.receivers) - 1)[0].to(act.dtype)
        return act

    hooks: list[tuple[str, Any]] = [("hook_embed", partial(sender, index=0))]
    if eg.has_pos:
        hooks.append(("hook_pos_embed", partial(sender, index=1)))
    for layer in range(eg.n_layers):
        ln1 = f"blocks.{layer}.ln1.hook_in"
        shared = eg.has_mlp and eg.mlp_in[layer] == ln1
        hooks.append((ln1, partial(inputs, layer=layer, heads=True, mlp=shared)))
        hooks.append((f"blocks.{layer}.attn.hook_z", partial(heads_out, layer=layer)))
        if eg.has_mlp:
            if not shared:
                hooks.append(
                    (eg.mlp_in[layer], partial(inputs, layer=layer, heads=False, mlp=True))
                )
            hooks.append((f"blocks.{layer}.hook_mlp_out", partial(mlp_out, layer=layer)))
    hooks.append(("ln_final.hook_in", final))
    owned = [(name, mark_owned(fn)) for name, fn in hooks]
    with torch.inference_mode(), adapter.model.hooks(fwd_hooks=owned):
        logits: torch.Tensor = adapter.model(tokens.expand(rows, -1))
    return logits[0]
