"""Intervention specs turned into hook steps: validated against the graph, valued per run.

A Step is plain data (hook name, index, how its value is made). The session values and applies
steps with ``hook_runtime``; ``codegen`` writes the same steps as Python.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import partial
from typing import Any, Literal

from transpector.errors import TranspectorError
from transpector.kernel import hook_runtime as hf
from transpector.kernel.adapter import Hooks, ModelAdapter, hook_layer, mark_owned
from transpector.kernel.byte_cache import ByteCache
from transpector.kernel.knowledge.edits import FactEdits
from transpector.kernel.knowledge.facts import Fact, Mlp
from transpector.kernel.sae import splice
from transpector.kernel.targets import NEURON, check_positions, resolve
from transpector.protocol.graph import GraphSpec
from transpector.protocol.interventions import (
    Ablate,
    EditFact,
    Freeze,
    Intervention,
    Isolate,
    Latent,
    MeanDiff,
    NeuronDirection,
    Patch,
    Steer,
)

Recipe = Literal[
    "zero", "mean", "resample", "copy", "mean_diff", "neuron", "tensor", "latent", "edit"
]
ADDS = ("mean_diff", "neuron", "tensor")  # steering recipes: add scale * vector, not set
Activations = Callable[[Sequence[str], str], list[Any]]


@dataclass(frozen=True)
class Step:
    """One hook of one intervention: where it writes and how its value is made."""

    hook: str
    feature: tuple[int, ...]
    positions: list[int] | None
    recipe: Recipe
    seed: int = 0
    source_hook: str = ""
    source_feature: tuple[int, ...] = ()
    source_prompt: str = ""
    scale: float = 1.0  # steering: the vector's multiplier
    positive: tuple[str, ...] = ()  # mean_diff: the two prompt sets
    negative: tuple[str, ...] = ()
    neuron: tuple[int, int] = (0, 0)  # neuron: (layer, index) of the W_out row
    vector: str = ""  # tensor: the session's name for it
    latent: int = 0  # latent: the autoencoder latent, and what is done to it
    action: str = ""
    fact: Fact | None = None  # edit: the fact and its keys' dataset; source_hook: the MLP's keys

    @property
    def adds(self) -> bool:
        return self.recipe in ADDS

    @property
    def stacks(self) -> bool:
        """Applied to its own result it changes it again: it adds, or it edits a latent of what
        it reads (a set step writes the same values again)."""
        return self.adds or self.recipe == "latent"


def plan(spec: Intervention, graph: GraphSpec) -> list[Step]:
    """The steps of ``spec``; a TranspectorError when it cannot apply to this graph."""
    target = resolve(graph, spec.node)
    if isinstance(spec, Ablate):
        return [Step(target.hook, target.feature, spec.positions, spec.method, spec.seed)]
    if isinstance(spec, Isolate):
        if target.kind != "head":
            raise TranspectorError(f"isolate needs a head like L0.H1, not '{spec.node}'")
        others = [h for h in range(graph.n_heads) if (h,) != target.feature]
        return [Step(target.hook, (h,), spec.positions, spec.method, spec.seed) for h in others]
    if isinstance(spec, Freeze):
        return [_copy(target.hook, target.feature, spec.positions, target, spec.prompt)]
    if isinstance(spec, Steer):
        return [_steer(spec, target, graph)]
    if isinstance(spec, Latent):
        if target.feature:
            raise TranspectorError(
                f"a latent edit acts on a whole MLP or residual node with an autoencoder, not "
                f"'{spec.node}'"
            )
        return [
            Step(
                target.hook,
                (),
                spec.positions,
                "latent",
                scale=spec.scale,
                source_prompt=spec.source_prompt,
                latent=spec.latent,
                action=spec.action,
            )
        ]
    if isinstance(spec, EditFact):
        return [_edit(spec, target, graph)]
    assert isinstance(spec, Patch)
    source = resolve(graph, spec.source)
    if source.unit_shape != target.unit_shape:
        raise TranspectorError(
            f"cannot patch {spec.source} (per position {list(source.unit_shape)}) into "
            f"{spec.node} (per position {list(target.unit_shape)}): shapes differ"
        )
    return [_copy(target.hook, target.feature, spec.positions, source, spec.source_prompt)]


def _steer(spec: Steer, target: Any, graph: GraphSpec) -> Step:
    source = spec.source
    base = Step(target.hook, target.feature, spec.positions, source.kind, scale=spec.scale)
    if isinstance(source, MeanDiff):
        return _replace(base, positive=tuple(source.positive), negative=tuple(source.negative))
    if isinstance(source, NeuronDirection):
        neuron = NEURON.fullmatch(source.neuron)
        if neuron is None:
            raise TranspectorError(
                f"steer: a neuron direction names a neuron like L2.mlp.N5, not {source.neuron!r}"
            )
        resolve(graph, source.neuron)  # a clear error for a neuron the model lacks
        if target.unit_shape != (graph.d_model,):
            raise TranspectorError(
                f"steer: the direction of {source.neuron} has d_model={graph.d_model} entries; "
                f"{spec.node} takes {list(target.unit_shape)} per position (steer a residual, "
                "attention or MLP node with it)"
            )
        return _replace(base, neuron=(int(neuron.group(1)), int(neuron.group(2))))
    return _replace(base, vector=source.name)


def _edit(spec: EditFact, target: Any, graph: GraphSpec) -> Step:
    node = graph.node(spec.node)
    if node.kind != "mlp" or target.feature or "post" not in node.hooks:
        raise TranspectorError(f"a knowledge edit acts on an MLP like L3.mlp, not '{spec.node}'")
    if spec.positions is not None:
        raise TranspectorError("a knowledge edit changes the MLP at every position: no positions")
    dataset = "" if spec.dataset is None else spec.dataset.model_dump_json()
    fact = Fact(spec.prompt, spec.subject, spec.target, dataset, spec.key_windows)
    return Step(target.hook, (), None, "edit", source_hook=node.hooks["post"], fact=fact)


def edit_of(step: Step) -> tuple[Mlp, Fact]:
    """What an edit step edits, and the fact."""
    assert step.fact is not None
    return Mlp(keys=step.source_hook, out=step.hook), step.fact


def _replace(step: Step, **fields: Any) -> Step:
    return replace(step, **fields)


def unit_shape(spec: Steer, graph: GraphSpec) -> tuple[int, ...]:
    """The shape a steering vector for ``spec``'s target has (one position's value)."""
    return resolve(graph, spec.node).unit_shape


def steer_value(
    step: Step, activations: Activations, vectors: Mapping[str, Any], w_out: Callable[[int], Any]
) -> Any:
    """``scale * vector`` of a steering step (``w_out(layer)``: that layer's W_out)."""
    if step.recipe == "mean_diff":
        positive = activations(step.positive, step.hook)
        negative = activations(step.negative, step.hook)
        return step.scale * hf.mean_diff_value(positive, negative, step.feature)
    if step.recipe == "neuron":
        layer, index = step.neuron
        return step.scale * w_out(layer)[index].detach()
    if step.vector not in vectors:
        raise TranspectorError(
            f"no vector named {step.vector!r}: set it with session.set_vector(name, tensor)"
        )
    return step.scale * vectors[step.vector]


def _copy(
    hook: str, feature: tuple[int, ...], positions: list[int] | None, source: Any, prompt: str
) -> Step:
    return Step(hook, feature, positions, "copy", 0, source.hook, source.feature, prompt)


def value_of(
    step: Step,
    n_pos: int,
    reference_prompts: Sequence[str],
    activations: Activations,
    token_count: Callable[[str], int],
) -> Any:
    """The value a step writes, for a prompt of ``n_pos`` tokens."""
    check_positions(step.positions, n_pos, step.hook)
    if step.recipe == "zero":
        return 0.0
    if step.recipe in ("mean", "resample"):
        if not reference_prompts:
            raise TranspectorError(
                f"{step.recipe} ablation needs reference prompts: "
                "set session.reference_prompts = ['...', ...] first"
            )
        acts = activations(reference_prompts, step.hook)
        if step.recipe == "mean":
            return hf.mean_value(acts, step.feature)
        return hf.resample_value(acts, step.feature, step.positions, n_pos, step.seed)
    source_len = token_count(step.source_prompt)
    check_source_length(source_len, n_pos, step.positions)
    check_positions(step.positions, source_len, step.source_hook)
    (act,) = activations([step.source_prompt], step.source_hook)
    return hf.source_value(act, step.source_feature, step.positions)


def check_references(specs: Sequence[Intervention], reference_prompts: Sequence[str]) -> None:
    """Mean and resample ablations draw their values from the reference prompts: refuse a state
    that has them without references (checked when either changes, so no run fails later)."""
    if reference_prompts:
        return
    for spec in specs:
        method = getattr(spec, "method", "zero")
        if method != "zero":
            raise TranspectorError(
                f"{method} ablation of {spec.node} needs reference prompts: set "
                "session.reference_prompts = ['...', ...] first (their activations are the "
                "baseline)"
            )


def check_source_length(source_len: int, n_pos: int, positions: list[int] | None) -> None:
    """A patch (or freeze) of every position needs a source prompt as long as the prompt."""
    if positions is None and source_len != n_pos:
        raise TranspectorError(
            f"the source prompt has {source_len} tokens and the prompt {n_pos}; "
            "give positions to patch only some of them"
        )


def hook_of(step: Step, value: Any) -> tuple[str, Callable[..., Any]]:
    write = hf.add_value if step.adds else hf.set_value
    fn = partial(write, index=hf.index_of(step.positions, step.feature), value=value)
    return step.hook, mark_owned(fn)


ACTIVATION_CACHE_MB = 256  # default budget of the source activations kept


class SourceActivations:
    """Clean activations of reference and source prompts (what mean, resample, patch and freeze
    read), kept while the model's weights and hooks stay the same, within a budget in bytes
    (least recently used first out)."""

    def __init__(self, adapter: ModelAdapter, tokens: Callable[[str], Any]) -> None:
        self.adapter = adapter
        self._tokens = tokens
        self.cache = ByteCache("source activations", ACTIVATION_CACHE_MB << 20)
        self._key: object = None
        self.vectors: dict[str, Any] = {}  # steering vectors from cells, by name
        self._revisions: dict[str, int] = {}  # how often each name was set
        self.saes: dict[str, Any] = {}  # sparse autoencoders for latent edits, by hook
        self.edits = FactEdits(adapter)  # rank-one knowledge edits

    def set_vector(self, name: str, tensor: Any) -> None:
        self.vectors[name] = tensor
        self._revisions[name] = self._revisions.get(name, 0) + 1

    def vector_key(self, specs: Sequence[Intervention]) -> tuple[tuple[str, int], ...]:
        """Which value each named vector ``specs`` use has: a run's value depends on it."""
        names = sorted(
            {s.source.name for s in specs if isinstance(s, Steer) and s.source.kind == "tensor"}
        )
        return tuple((name, self._revisions.get(name, 0)) for name in names)

    def __call__(self, prompts: Sequence[str], hook: str) -> list[Any]:
        key = self.adapter.model_key()
        if key != self._key:
            self.cache.clear()
            self._key = key
        found = {p: self.cache.get((p, hook)) for p in dict.fromkeys(prompts)}
        missing = [p for p, act in found.items() if act is None]
        for prompt in missing:
            self._tokens(prompt)  # a clear error for a prompt that cannot run
        if missing:
            for prompt, act in zip(
                missing, self.adapter.clean_captures(missing, hook), strict=True
            ):
                found[prompt] = act
                self.cache.put((prompt, hook), act)
        return [found[p] for p in prompts]

    def hooks(
        self,
        specs: Sequence[Intervention],
        graph: GraphSpec,
        n_pos: int,
        reference_prompts: Sequence[str],
    ) -> Hooks:
        """Every intervention as temporary hooks, valued for a prompt of ``n_pos`` tokens."""

        def count(prompt: str) -> int:
            return int(self._tokens(prompt).shape[1])

        def value(step: Step) -> Any:
            if step.adds:
                check_positions(step.positions, n_pos, step.hook)
                return steer_value(step, self, self.vectors, self.w_out)
            return value_of(step, n_pos, reference_prompts, self, count)

        def hook(step: Step) -> Hooks:
            if step.recipe == "latent":
                return [splice.latent_hook(step, self.saes, n_pos, self, count)]
            if step.recipe == "edit":
                return self.edits.hooks(*edit_of(step))
            return [hook_of(step, value(step))]

        return [pair for spec in specs for step in plan(spec, graph) for pair in hook(step)]

    def w_out(self, layer: int) -> Any:
        from transpector.kernel.adapter.scan import neuron_out_weights

        return neuron_out_weights(self.adapter, layer)


def first_layer(spec: Intervention, graph: GraphSpec) -> int | None:
    """The first block ``spec`` acts in (n_layers: after the last block); None when it acts
    before block 0 (embeddings), where no forward can resume."""
    layers = [hook_layer(step.hook, graph.n_layers) for step in plan(spec, graph)]
    known = [layer for layer in layers if layer is not None]
    return min(known) if known and len(known) == len(layers) else None
