"""Every analysis is a tool: a name, pydantic ``Args`` and ``Result``, and how it runs.

``CONTRACTS`` is the one list of the wire side: the generated TypeScript (``ToolArgs``,
``ToolResults``), the REST routes ``POST /api/tools/<name>`` and the generic tests come from it.
The kernel's ``TOOLS`` list gives each contract its compute.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel

from transpector.protocol import (
    attribution,
    batch,
    edges,
    generation,
    jacobian_lens,
    knowledge,
    latents,
    lens,
    metric,
    neurons,
    outputs,
    patching,
    positions,
    residual,
    saved_run,
    tracing,
    weights,
)

When = Literal["outputs", "after_run", "on_demand"]


@dataclass(frozen=True)
class ToolContract:
    name: str
    args: type[BaseModel]
    result: type[BaseModel]
    summary: str
    # outputs: computed on every run, in the run summary; after_run: on every run, in its own
    # message after the summary; on_demand: when asked (tool_call, REST, a session method).
    when: When = "on_demand"
    progress: bool = False  # long work: progress messages, cancellable by its task id
    example: dict[str, Any] = field(default_factory=dict)  # valid args, for docs and tests


TOP_K = ToolContract(
    "top_k", outputs.TopKArgs, outputs.TopKResult, "The k most likely next tokens", "outputs"
)
LOSS = ToolContract(
    "loss", outputs.LossArgs, outputs.LossResult, "Per-token cross-entropy", "outputs"
)
HEAD_DLA = ToolContract(
    "head_dla",
    outputs.HeadDlaArgs,
    outputs.HeadDlaResult,
    "Each head's direct logit attribution to the top token",
    "outputs",
)
METRIC = ToolContract(
    "metric",
    metric.MetricArgs,
    metric.MetricResult,
    "The session's metric on this run and on the clean run, at the last position",
    "outputs",
    example={"metric": {"kind": "top_prob"}},
)
LOGIT_LENS = ToolContract(
    "logit_lens",
    lens.LogitLensArgs,
    lens.LogitLens,
    "Top-1 token of every residual row at a window of positions",
    "after_run",
    example={"positions": [0, -1]},
)
LENS_TOP_K = ToolContract(
    "lens_top_k",
    lens.LensTopKArgs,
    lens.LensTopKResult,
    "One logit-lens cell's top-k",
    example={"row": "L0.resid_pre", "position": -1, "k": 3},
)
FIT_JACOBIAN_LENS = ToolContract(
    "fit_jacobian_lens",
    jacobian_lens.FitJacobianLensArgs,
    jacobian_lens.JacobianLensInfo,
    "Fit the Jacobian lens (TransformerLens's JacobianLens) on windows of a dataset; cached",
    progress=True,
    example={
        "dataset": {"source": {"kind": "texts", "texts": ["hello world, " * 20]}, "window": 16},
        "n_prompts": 2,
        "max_seq_len": 12,
        "skip_first_positions": 2,
    },
)
PROMPT_BATCH = ToolContract(
    "prompt_batch",
    batch.PromptBatchArgs,
    batch.PromptBatchResult,
    "Run every prompt of the session, with progress",
    progress=True,
)
ACTIVATION_PATCHING = ToolContract(
    "activation_patching",
    patching.PatchingArgs,
    patching.PatchingResult,
    "Activation patching sweep on a clean/corrupt pair: each cell's share of the clean metric",
    progress=True,
    example={"sweep": "resid_pre", "clean": "hello world", "corrupt": "hello wurld"},
)
ATTRIBUTION_PATCHING = ToolContract(
    "attribution_patching",
    attribution.AttributionArgs,
    attribution.AttributionResult,
    "Attribution patching: a patching sweep estimated from one forward and backward per prompt",
    progress=True,
    example={"sweep": "head_out", "clean": "hello world", "corrupt": "hello wurld"},
)
CAUSAL_TRACING = ToolContract(
    "causal_tracing",
    tracing.TracingArgs,
    tracing.TracingResult,
    "Causal tracing: the answer's probability with the subject noised and one clean state restored",
    progress=True,
    example={"text": "hello world", "subject": "hello", "samples": 2, "window": 1},
)
RESIDUAL_STREAM = ToolContract(
    "residual_stream",
    residual.ResidualArgs,
    residual.ResidualResult,
    "Residual stream: each row's norm, each component's direct contribution to the metric's logit",
    example={"positions": [0, -1]},
)
HEAD_COMPOSITION = ToolContract(
    "head_composition",
    weights.CompositionArgs,
    weights.CompositionResult,
    "Q-, K- or V-composition scores between every pair of heads in different layers (weights)",
    progress=True,
    example={"kind": "K", "threshold": 0.1, "max_edges": 5},
)
OV_COPYING = ToolContract(
    "ov_copying",
    weights.OvCopyingArgs,
    weights.OvCopyingResult,
    "Each head's OV circuit: a token's top tokens through it, and its copying score (weights)",
    progress=True,
    example={"token": "h", "k": 3},
)
QK_POSITIONS = ToolContract(
    "qk_positions",
    positions.QkPositionsArgs,
    positions.QkPositionsResult,
    "Each head's attention by relative position: from W_pos, or measured on random tokens",
    progress=True,
    example={"length": 8, "samples": 2},
)

EDGE_ATTRIBUTION = ToolContract(
    "edge_attribution",
    edges.EdgeAttributionArgs,
    edges.EdgeAttributionResult,
    "Edge attribution patching: every edge between heads, MLPs and the logits, estimated",
    progress=True,
    example={"clean": "hello world", "corrupt": "hello wurld", "max_edges": 5},
)
CIRCUIT = ToolContract(
    "circuit",
    edges.CircuitArgs,
    edges.CircuitResult,
    "Run a circuit: the clean prompt with every edge not kept patched to its corrupt value",
    progress=True,
    example={"clean": "hello world", "corrupt": "hello wurld", "keep": [["embed", "unembed"]]},
)

MLP_NEURONS = ToolContract(
    "mlp_neurons",
    neurons.MlpNeuronsArgs,
    neurons.MlpNeuronsResult,
    "An MLP node's neurons ranked by their largest activation on the prompt",
    example={"node": "L0.mlp", "k": 5},
)
NEURON_VIEW = ToolContract(
    "neuron_view",
    neurons.NeuronViewArgs,
    neurons.NeuronViewResult,
    "One neuron: its activations on the prompt, top windows and histogram over a dataset, "
    "logit effects",
    progress=True,
    example={
        "neuron": "L0.mlp.N1",
        "k": 3,
        "dataset": {"source": {"kind": "texts", "texts": ["hello world, " * 20]}, "window": 16},
    },
)

LATENTS = ToolContract(
    "latents",
    latents.LatentsArgs,
    latents.LatentsResult,
    "A node's sparse autoencoder latents on the prompt; with latent, its dashboard over a dataset",
    progress=True,
    example={"node": "L0.resid_post", "k": 5},
)

GENERATION = ToolContract(
    "generation",
    generation.GenerationArgs,
    generation.GenerationResult,
    "Text generated with and without the interventions, one seed, streamed token by token",
    progress=True,
    example={"max_new_tokens": 3, "temperature": 0.8, "seed": 1},
)

KNOWLEDGE_EDIT = ToolContract(
    "knowledge_edit",
    knowledge.KnowledgeEditArgs,
    knowledge.KnowledgeEditResult,
    "A rank-one edit (ROME) of one MLP so a subject's prompt continues with a new target, "
    "with its effect on paraphrases and unrelated prompts",
    progress=True,
    example={
        "node": "L0.mlp",
        "text": "hello world",
        "subject": "hello",
        "target": " x",
        "dataset": {"source": {"kind": "texts", "texts": ["hello world, " * 20]}, "window": 16},
    },
)

SAVED_RUN = ToolContract(
    "saved_run",
    saved_run.SavedRunArgs,
    saved_run.SavedRunResult,
    "The saved run a cell showed (session.show_saved): tokens, top-k, lens, one head's attention",
)

CONTRACTS: list[ToolContract] = [
    TOP_K,
    LOSS,
    HEAD_DLA,
    METRIC,
    LOGIT_LENS,
    LENS_TOP_K,
    PROMPT_BATCH,
    ACTIVATION_PATCHING,
    ATTRIBUTION_PATCHING,
    CAUSAL_TRACING,
    RESIDUAL_STREAM,
    HEAD_COMPOSITION,
    OV_COPYING,
    QK_POSITIONS,
    EDGE_ATTRIBUTION,
    CIRCUIT,
    MLP_NEURONS,
    NEURON_VIEW,
    GENERATION,
    LATENTS,
    FIT_JACOBIAN_LENS,
    KNOWLEDGE_EDIT,
    SAVED_RUN,
]
BY_NAME = {c.name: c for c in CONTRACTS}
