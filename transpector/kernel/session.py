"""The Session: one live model, its shared state, and every operation on it.

Python cells and (later) every canvas change the state through these same methods; each accepted
change bumps ``version``, is saved to the state file, and goes to every subscriber. A change that
fails validation raises TranspectorError and leaves the state exactly as it was.
"""

from __future__ import annotations

import functools
import os
import uuid
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import torch
from pydantic import BaseModel, ValidationError

from transpector.errors import TranspectorError, first_error
from transpector.kernel.adapter import Hooks, ModelAdapter
from transpector.kernel.circuitsvis_views import CircuitsVisMethods
from transpector.kernel.dataset_methods import DatasetMethods
from transpector.kernel.deferred.methods import DeferredMethods
from transpector.kernel.experiments import ExperimentMethods, ToolCall
from transpector.kernel.export_html import ExportMethods
from transpector.kernel.generation_methods import GenerationMethods
from transpector.kernel.graph import build_graph
from transpector.kernel.inspection import InspectionMethods
from transpector.kernel.intervention_methods import InterventionMethods
from transpector.kernel.interventions import SourceActivations, check_references
from transpector.kernel.jacobian_methods import JacobianLensMethods
from transpector.kernel.knowledge.methods import KnowledgeMethods
from transpector.kernel.persistence import PersistenceMethods
from transpector.kernel.placement.methods import PlacementMethods, out_of_memory
from transpector.kernel.research_methods import ResearchMethods
from transpector.kernel.run_context import RunContext, RunContexts, RunResult
from transpector.kernel.sae.methods import SaeMethods
from transpector.kernel.saved_run import SavedRunMethods
from transpector.kernel.steering import SteeringMethods
from transpector.kernel.targets import data_source
from transpector.kernel.tool_calls import ToolMethods, drive
from transpector.kernel.tools import AFTER_RUN, OUTPUTS, tool_named
from transpector.kernel.widget import WidgetMethods
from transpector.protocol.experiments import Experiment
from transpector.protocol.graph import GraphSpec
from transpector.protocol.interventions import (
    Ablate,
    Freeze,
    Intervention,
    Isolate,
    Patch,
)
from transpector.protocol.lens import LensTopKResult, LogitLens
from transpector.protocol.messages import RunSummary
from transpector.protocol.outputs import TokenProb
from transpector.protocol.state import SessionState

Listener = Callable[[dict[str, Any]], None]
Spec = TypeVar("Spec", Ablate, Isolate, Freeze, Patch)


class Session(
    SteeringMethods,
    GenerationMethods,
    InterventionMethods,
    ExperimentMethods,
    ExportMethods,
    PersistenceMethods,
    DeferredMethods,
    DatasetMethods,
    SaeMethods,
    ResearchMethods,
    KnowledgeMethods,
    JacobianLensMethods,
    WidgetMethods,
    CircuitsVisMethods,
    InspectionMethods,
    PlacementMethods,
    SavedRunMethods,
):
    def __init__(self, model: Any, state_file: str | os.PathLike[str] | None = None) -> None:
        self.model = model
        self.session_id = uuid.uuid4().hex[:12]  # viewers tell a new session from an old one
        self.graph: GraphSpec = build_graph(model)
        self._adapter = ModelAdapter(model)
        self._forget_saved()  # a new session shows no saved run yet
        self._contexts = RunContexts(self._adapter, self.graph)
        self._sources = SourceActivations(self._adapter, self._tokens)
        self._contexts.more_key = self._sources.vector_key
        self._sources.edits.compute = self._compute_edit
        self.tools = ToolMethods(self)
        self._listeners: list[Listener] = []
        self._state_file = Path(state_file) if state_file else None
        self._state = SessionState(model_name=self.graph.model_name)
        self._experiments: dict[str, Experiment] = {}
        self._tool_log: dict[str, ToolCall] = {}  # each tool's latest call and result
        self.restored = False  # whether the state came from the state file
        self._depth = 0  # nested session calls that run the model (see _sweeping)
        if self._state_file and self._state_file.is_file():
            self._restore_or_set_aside(self._state_file)
        self._place()

    # ---- state -------------------------------------------------------------------------------
    @property
    def adapter(self) -> ModelAdapter:
        """The model's TransformerLens adapter: the one way tools reach the model."""
        return self._adapter

    @property
    def version(self) -> int:
        return self._state.version

    @property
    def state(self) -> SessionState:
        return self._state.model_copy(deep=True)

    @property
    def prompt(self) -> str:
        return self._state.prompts[self._state.active]

    @prompt.setter
    def prompt(self, text: str) -> None:
        self._tokens(text)
        prompts = list(self._state.prompts)
        prompts[self._state.active] = text
        self._change("set_prompt", {"prompt": text}, prompts=prompts)

    @property
    def prompts(self) -> list[str]:
        return list(self._state.prompts)

    @prompts.setter
    def prompts(self, texts: list[str]) -> None:
        if not texts:
            raise TranspectorError("give at least one prompt")
        for text in texts:
            self._tokens(text)
        self._change("set_prompts", {"prompts": list(texts)}, prompts=list(texts), active=0)

    def select_prompt(self, index: int) -> None:
        if not 0 <= index < len(self._state.prompts):
            raise TranspectorError(f"no prompt {index}: there are {len(self._state.prompts)}")
        self._change("select_prompt", {"active": index}, active=index)

    @property
    def reference_prompts(self) -> list[str]:
        return list(self._state.reference_prompts)

    @reference_prompts.setter
    def reference_prompts(self, texts: list[str]) -> None:
        for text in texts:
            self._tokens(text)
        check_references(self._state.interventions, texts)
        self._change("set_reference", {"prompts": list(texts)}, reference_prompts=list(texts))

    @property
    def interventions(self) -> list[Intervention]:
        return list(self._state.interventions)

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener(change)`` after every accepted change; returns an unsubscribe."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    # ---- runs and tools ----------------------------------------------------------------------
    def context(self, prompt: str | None = None, keep: bool = True) -> RunContext:
        """The run of ``prompt`` (default: the session's) in the current state: one forward per
        state and prompt, its activations shared by every view and tool. Its ``clean`` is the
        run without interventions (computed when first asked for)."""
        with self._sweeping():
            return self._context(prompt, keep)

    @contextmanager
    def _sweeping(self) -> Iterator[None]:
        """Around the outermost session call that runs the model: remove what an interrupt
        (Ctrl-C in a cell) inside a hooks block left on it (``ModelAdapter.remove_stale_hooks``)
        before, and every ``model.hooks`` block's hook when an interrupt goes out through it
        (those blocks have all exited; TransformerLens's level count may be off by then)."""
        outermost = self._depth == 0
        if outermost:
            self._check_not_moving()
            self._adapter.remove_stale_hooks()
        self._depth += 1
        try:
            yield
        except KeyboardInterrupt:
            if outermost:
                self._adapter.remove_stale_hooks(every_temporary=True)
            raise
        except torch.OutOfMemoryError as error:
            raise out_of_memory(error, self.model) from None
        finally:
            self._depth -= 1

    def _context(self, prompt: str | None, keep: bool) -> RunContext:
        text = self.prompt if prompt is None else prompt
        tokens = self._tokens(text)
        s = self._state
        capture = [h for tool in (*OUTPUTS, *AFTER_RUN) for h in tool.hooks(self.graph)]

        def run(specs: list[Intervention], hooks_for: Callable[[int], Hooks]) -> RunContext:
            return self._contexts.get(
                text, tokens, specs, s.reference_prompts, s.version, hooks_for, capture, keep=keep
            )

        clean_run = functools.cache(lambda: run([], lambda n_pos: []))
        if s.interventions and keep:
            clean_run()  # first, so that the intervened run can resume from it
        context = run(s.interventions, self._hooks_for)
        context.metric = s.metric
        context.clean_of = clean_run if s.interventions else None
        return context

    def run(self, prompt: str | None = None, *, top_k: int = 10, lens: bool = True) -> RunResult:
        """Run ``prompt`` (default: the session's) with the interventions applied."""
        context = self.context(prompt)
        lens_result = self.call("logit_lens", prompt=prompt) if lens else None
        assert lens_result is None or isinstance(lens_result, LogitLens)
        return RunResult(
            prompt=context.prompt,
            tokens=self.str_tokens(context),
            token_ids=context.tokens[0].tolist(),
            logit_lens=lens_result,
            logits=context.logits.detach().clone(),
            version=self.version,
            timing=context.timing,
            **self.outputs(context, top_k),
        )

    def outputs(self, context: RunContext, top_k: int = 10) -> dict[str, Any]:
        """The fields of every ``outputs`` tool's result on ``context`` (the run summary's)."""
        fields: dict[str, Any] = {}
        for tool in OUTPUTS:
            assert tool.compute is not None
            args = {"k": top_k} if "k" in tool.contract.args.model_fields else {}
            fields |= dict(tool.compute(context, tool.contract.args(**args)))
        return fields

    def summary(self, context: RunContext, request_id: str = "", top_k: int = 10) -> RunSummary:
        """The run summary of ``context`` (what the canvas draws): outputs, never logits."""
        return RunSummary(
            version=context.version,
            session_id=self.session_id,
            request_id=request_id,
            prompt=context.prompt,
            tokens=self.str_tokens(context),
            token_ids=context.tokens[0].tolist(),
            logits_shape=list(context.logits.shape),
            timing=context.timing,
            **self.outputs(context, top_k),
        )

    def str_tokens(self, context: RunContext) -> list[str]:
        return self._adapter.str_tokens(context.tokens[0])

    def call(self, tool: str, prompt: str | None = None, **args: Any) -> BaseModel:
        """Call a tool by name (``session.tools.<name>(...)`` does the same) on ``prompt``
        (default: the session's) in the current state; returns its Result model. Long tools
        show a progress bar."""
        found = tool_named(tool)
        if found.compute is None and prompt is not None:
            raise TranspectorError(
                f"{tool} takes its prompts in its own arguments, not prompt=: see "
                f"{found.contract.args.__name__}"
            )
        parsed = self.tool_args(tool, args)
        with self._sweeping():
            if found.compute is not None:
                result = found.compute(self.context(prompt), parsed)
            else:
                assert found.steps is not None
                result = drive(found.steps(self, parsed))
        self.record_tool(tool, parsed, result)
        return result

    def tool_args(self, tool: str, args: dict[str, Any]) -> BaseModel:
        """``args`` checked against the tool's Args model; a TranspectorError that says what is
        wrong otherwise."""
        contract = tool_named(tool).contract
        try:
            return contract.args.model_validate(args)
        except ValidationError as error:
            raise TranspectorError(f"{tool}: {first_error(error)}") from None

    def node_data(
        self, node_id: str, what: str | None = None, prompt: str | None = None
    ) -> torch.Tensor:
        """A node's tensor on the current prompt with interventions applied: a head's attention
        pattern [query, key], an attention layer's [head, query, key], else the activation
        [pos, ...] (a neuron: [pos]); ``what="norm"`` gives the L2 norm per position, and a norm
        node's ``"scale"`` what it divides each position by [pos]. Without ``what``, what the
        canvas shows for that node (its ``shows``)."""
        source = data_source(self.graph, node_id, what)
        act = self.context(prompt).act(source.hook)[source.index]
        if source.what == "norm":
            act = act.float().reshape(act.shape[0], -1).norm(dim=-1)
        return act.detach().float().clone()

    def lens_top_k(
        self, row: str, position: int, k: int = 10, prompt: str | None = None
    ) -> list[TokenProb]:
        """One logit-lens cell in full: the k most likely tokens when the residual ``row`` (e.g.
        ``"L3.resid_pre"``) at ``position`` goes through the final norm and the unembedding."""
        result = self.call("lens_top_k", prompt=prompt, row=row, position=position, k=k)
        assert isinstance(result, LensTopKResult)
        return result.top_k

    @contextmanager
    def applied(self, prompt: str | None = None) -> Iterator[Any]:
        """Apply the interventions to any model call inside the block; values that depend on the
        prompt length (patches, resampling) are made for ``prompt`` (default: the session's)."""
        n_pos = int(self._tokens(self.prompt if prompt is None else prompt).shape[1])
        with self._sweeping(), self._adapter.applied(self._hooks_for(n_pos)) as model:
            yield model

    def _hooks_for(self, n_pos: int) -> Hooks:
        return self._sources.hooks(
            self._state.interventions, self.graph, n_pos, self._state.reference_prompts
        )

    def _tokens(self, prompt: str) -> torch.Tensor:
        return self._adapter.to_tokens(prompt, self.graph.n_ctx)

    def _change(self, op: str, detail: dict[str, Any], **fields: Any) -> None:
        data = {**self._state.model_dump(), **fields, "version": self._state.version + 1}
        candidate = SessionState.model_validate(data)
        self._state = candidate
        if self._state_file:
            self.save(self._state_file)
        change = {"op": op, "version": candidate.version, **detail}
        for listener in list(self._listeners):
            try:
                listener(change)
            except Exception as error:  # a broken viewer must not undo an accepted change
                warnings.warn(f"transpector: a session listener failed: {error!r}", stacklevel=2)
