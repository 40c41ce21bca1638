"""One forward per (state, prompt): the run context and the small cache of them.

A run context holds the logits of one forward and the activations it captured. Every view of
that state (outputs, lens, node data, lens cells, tools) reads from it, and a hook the forward did
not capture costs one more forward, once. The hooks views read are captured by the next run of
the same prompt as well, so an edit on the canvas costs one forward.
"""

from __future__ import annotations

import functools
import time
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from transpector.kernel.adapter import BlockKwargs, Hooks, ModelAdapter, hook_layer
from transpector.kernel.interventions import first_layer, plan
from transpector.protocol.graph import GraphSpec
from transpector.protocol.interventions import Intervention
from transpector.protocol.lens import LogitLens
from transpector.protocol.messages import RunTiming
from transpector.protocol.metric import Metric, MetricValue, TopProb
from transpector.protocol.outputs import TokenProb

# The active prompt's run, its clean run (no interventions: "before" for every "after"), and
# one other (a patch source, a batch prompt).
CONTEXTS_KEPT = 3


@dataclass
class RunContext:
    adapter: ModelAdapter
    graph: GraphSpec
    prompt: str
    key: tuple[Any, ...]  # what the forward depended on: prompt, interventions, references, model
    version: int  # the state version it answers for
    tokens: torch.Tensor  # [1, pos]
    hooks: Hooks  # the interventions, as temporary hooks
    logits: torch.Tensor  # [pos, d_vocab]
    acts: dict[str, torch.Tensor]  # hook name -> [pos, ...], with the interventions applied
    timing: RunTiming
    specs: dict[str, Intervention] = field(default_factory=dict)  # by content, without ids
    block_kwargs: BlockKwargs | None = None  # what the forward passed each block, to resume
    read: set[str] = field(default_factory=set)  # hooks that views asked for
    forwards: int = 1
    # Set by the session each time it hands the context out (like ``version``):
    metric: Metric = field(default_factory=TopProb)  # the session's metric
    clean_of: Callable[[], RunContext] | None = None  # the clean run; None: this one is clean
    memo: dict[str, Any] = field(default_factory=dict)  # results kept with the run (clean lens)

    @property
    def clean(self) -> RunContext:
        """The run of the same prompt without interventions (this one, when it has none)."""
        return self if self.clean_of is None else self.clean_of()

    @property
    def n_pos(self) -> int:
        return int(self.tokens.shape[1])

    @functools.cached_property
    def log_normalizer(self) -> torch.Tensor:
        """logsumexp of the logits at every position [pos]: log p(t) = logit[t] - this. Top-k
        and loss share it (one pass over the vocabulary, no [pos, d_vocab] softmax)."""
        with torch.inference_mode():
            return self.logits.float().logsumexp(-1)

    def act(self, hook: str) -> torch.Tensor:
        """``hook``'s activation [pos, ...] in this run; one more forward if it was not kept."""
        return self.acts_of([hook])[hook]

    def acts_of(self, hooks: Iterable[str]) -> dict[str, torch.Tensor]:
        wanted = list(dict.fromkeys(hooks))
        self.read.update(wanted)
        missing = [h for h in wanted if h not in self.acts]
        if missing:
            _, found = self.adapter.forward(self.tokens, self.hooks, missing)
            self.acts.update(found)
            self.forwards += 1
        return {h: self.acts[h] for h in wanted}


class RunContexts:
    """The latest run contexts, by prompt. A context is reused while its key holds; a new one
    resumes from the previous context of its prompt where the model allows it: interventions
    that differ act from block L on, so blocks before L are not run again."""

    def __init__(self, adapter: ModelAdapter, graph: GraphSpec) -> None:
        self.adapter = adapter
        self.graph = graph
        self._kept: OrderedDict[tuple[str, bool], RunContext] = OrderedDict()
        # What else a run's value depends on (the named steering vectors its specs use).
        self.more_key: Callable[[Sequence[Intervention]], object] = lambda specs: ()

    def get(
        self,
        prompt: str,
        tokens: torch.Tensor,
        interventions: Sequence[Intervention],
        references: Sequence[str],
        version: int,
        hooks_for: Callable[[int], Hooks],
        capture: Iterable[str],
        keep: bool = True,
    ) -> RunContext:
        specs = Counter(_content(spec) for spec in interventions)
        key = (
            prompt,
            frozenset(specs.items()),
            tuple(references),
            self.adapter.model_key(),
            self.more_key(interventions),
        )
        slot = (prompt, not interventions)
        # An intervened run resumes from the last one of its prompt, else from the clean run.
        previous = self._kept.get(slot) or self._kept.get((prompt, True))
        if previous is not None and previous.key == key:
            previous.version = version
            self._kept.move_to_end(slot)
            return previous
        wanted = set(capture) | (previous.read if previous is not None else set())
        hooks = hooks_for(int(tokens.shape[1]))
        layer, note = self._resume_point(previous, key, interventions)
        start = time.perf_counter()
        if previous is not None and layer is not None:
            logits, acts = self._resume(previous, layer, hooks, wanted)
            kwargs = previous.block_kwargs
        else:
            logits, acts, kwargs = self.adapter.forward_keeping_inputs(
                tokens, hooks, sorted(wanted)
            )
        elapsed = (time.perf_counter() - start) * 1e3
        timing = RunTiming(forward_ms=elapsed, resumed_from_layer=layer, note=note)
        context = RunContext(
            self.adapter, self.graph, prompt, key, version, tokens, hooks, logits, acts, timing,
            specs=interventions_by_content(interventions), block_kwargs=kwargs,
        )  # fmt: skip
        if keep:
            self._kept[slot] = context
            self._kept.move_to_end(slot)
            while len(self._kept) > CONTEXTS_KEPT:
                self._kept.popitem(last=False)
        return context

    def _resume_point(
        self,
        previous: RunContext | None,
        key: tuple[Any, ...],
        interventions: Sequence[Intervention],
    ) -> tuple[int | None, str]:
        """The block to resume at from ``previous`` (None: run in full), and why not if not."""
        if previous is None:
            return None, "full forward: the first run of this prompt"
        if previous.key[2:] != key[2:]:
            return None, "full forward: the reference prompts, weights or hooks changed"
        if previous.block_kwargs is None:
            return None, "full forward: the previous run kept no block inputs"
        now = interventions_by_content(interventions)
        changed = [now.get(c) or previous.specs[c] for c in set(now) ^ set(previous.specs)]
        if not changed:  # the same specs, e.g. duplicates added or removed: run in full
            return None, "full forward: the interventions changed in number only"
        layers = [first_layer(spec, self.graph) for spec in changed]
        if any(layer is None for layer in layers):
            return None, "full forward: an intervention acts on the embeddings"
        problem = self.adapter.resume_problem()
        if problem is not None:
            return None, f"full forward: {problem}"
        layer = min(x for x in layers if x is not None)
        # The kept input of block L is what its resid_pre hook left: a step there that this
        # state drops would leak into the re-run, and a step that stacks (steering adds, a
        # latent edit re-edits what it reads) kept by both states would act twice, so start a
        # block earlier (set steps kept by both states write the same values again).
        removed = [previous.specs[c] for c in set(previous.specs) - set(now)]
        kept = [previous.specs[c] for c in set(previous.specs) & set(now)]
        entry = f"blocks.{layer}.hook_resid_pre"
        if any(
            step.hook == entry and (spec in removed or step.stacks)
            for spec in (*removed, *kept)
            for step in plan(spec, self.graph)
        ):
            layer -= 1
        if layer < 0 or layer >= self.graph.n_layers:
            return None, "full forward: the change acts before block 0 or after the last block"
        return layer, ""

    def _resume(
        self, previous: RunContext, layer: int, hooks: Hooks, wanted: set[str]
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """A forward from block ``layer`` on ``previous``'s input of that block; what is wanted
        before that block comes from ``previous`` (nothing there changed)."""
        n = self.graph.n_layers
        at = {h: hook_layer(h, n) for h in wanted}
        late = sorted(h for h, where in at.items() if where is not None and where >= layer)
        resid = previous.acts[self.graph.node(f"L{layer}.resid_pre").hooks["out"]]
        assert previous.block_kwargs is not None
        late_hooks = [(h, fn) for h, fn in hooks if (hook_layer(h, n) or 0) >= layer]
        logits, acts = self.adapter.resume(resid, previous.block_kwargs, layer, late_hooks, late)
        early = {h: previous.acts[h] for h in wanted if h not in acts and h in previous.acts}
        return logits, {**early, **acts}

    def clear(self) -> None:
        self._kept.clear()


def _content(spec: Intervention) -> str:
    """An intervention without its id: two specs that act alike compare equal."""
    return spec.model_dump_json(exclude={"id"})


def interventions_by_content(interventions: Sequence[Intervention]) -> dict[str, Intervention]:
    return {_content(spec): spec for spec in interventions}


@dataclass
class RunResult:
    """What ``session.run()`` gives a cell: the run summary's parts, plus the full logits."""

    prompt: str
    tokens: list[str]
    token_ids: list[int]
    top_k: list[list[TokenProb]]  # per position, the k most likely next tokens
    loss: list[float]  # entry i: loss of predicting token i+1
    logit_lens: LogitLens | None
    head_dla: list[list[float]]  # [layer][head], to dla_label at the last position
    dla_token: TokenProb
    metric: MetricValue  # the session's metric, clean and now
    logits: torch.Tensor  # [pos, d_vocab]; stays in Python
    version: int
    timing: RunTiming
    clean_probs: list[list[float]] | None = None  # top_k's tokens in the clean run
    dla_label: str = ""
