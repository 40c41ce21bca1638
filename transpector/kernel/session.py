"""The Session: one live model, its shared state, and every operation on it.

Python cells and (later) every canvas change the state through these same methods; each accepted
change bumps ``version``, is saved to the state file, and goes to every subscriber. A change that
fails validation raises TranspectorError and leaves the state exactly as it was.
"""

from __future__ import annotations

import json
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
from transpector.kernel import codegen
from transpector.kernel.adapter import Hooks, ModelAdapter, check_text
from transpector.kernel.graph import build_graph
from transpector.kernel.interventions import (
    SourceActivations,
    check_references,
    check_source_length,
    plan,
)
from transpector.kernel.run_context import RunContext, RunContexts, RunResult
from transpector.kernel.targets import check_positions, data_source, resolve
from transpector.kernel.tool_calls import ToolMethods, drive
from transpector.kernel.tools import AFTER_RUN, OUTPUTS, tool_named
from transpector.protocol.graph import GraphSpec
from transpector.protocol.hooks import HookInfo
from transpector.protocol.interventions import (
    Ablate,
    AblationMethod,
    Freeze,
    Intervention,
    Isolate,
    Patch,
)
from transpector.protocol.lens import LensTopKResult, LogitLens
from transpector.protocol.outputs import TokenProb
from transpector.protocol.state import SessionState

Listener = Callable[[dict[str, Any]], None]
Spec = TypeVar("Spec", Ablate, Isolate, Freeze, Patch)


class Session:
    def __init__(self, model: Any, state_file: str | os.PathLike[str] | None = None) -> None:
        self.model = model
        self.session_id = uuid.uuid4().hex[:12]  # viewers tell a new session from an old one
        self.graph: GraphSpec = build_graph(model)
        self._adapter = ModelAdapter(model)
        self._contexts = RunContexts(self._adapter, self.graph)
        self._sources = SourceActivations(self._adapter, self._tokens)
        self.tools = ToolMethods(self)
        self._listeners: list[Listener] = []
        self._state_file = Path(state_file) if state_file else None
        self._state = SessionState(model_name=self.graph.model_name)
        if self._state_file and self._state_file.is_file():
            self._state = self._restore(self._state_file)

    # ---- state -------------------------------------------------------------------------------
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

    @property
    def notes(self) -> dict[str, str]:
        return dict(self._state.notes)

    def set_note(self, node_id: str, text: str) -> None:
        if not self.graph.has(node_id):
            resolve(self.graph, node_id)  # a neuron id, or a clear error
        check_text(text, "the note")
        notes = dict(self._state.notes)
        if text:
            notes[node_id] = text
        else:
            notes.pop(node_id, None)
        self._change("set_note", {"node": node_id, "text": text}, notes=notes)

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener(change)`` after every accepted change; returns an unsubscribe."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    # ---- interventions -----------------------------------------------------------------------
    def ablate(
        self,
        node_id: str,
        method: AblationMethod = "zero",
        positions: list[int] | None = None,
        seed: int = 0,
        *,
        kind: AblationMethod | None = None,
    ) -> Intervention:
        """Ablate ``node_id``: ``method`` is "zero", "mean" or "resample" (``kind=`` is its old,
        deprecated name)."""
        method = _renamed(kind, method)
        return self.add(_spec(Ablate, node=node_id, method=method, positions=positions, seed=seed))

    def isolate(
        self,
        node_id: str,
        method: AblationMethod = "zero",
        positions: list[int] | None = None,
        *,
        kind: AblationMethod | None = None,
    ) -> Intervention:
        """Ablate every other head of ``node_id``'s layer."""
        method = _renamed(kind, method)
        return self.add(_spec(Isolate, node=node_id, method=method, positions=positions))

    def freeze(self, node_id: str, positions: list[int] | None = None) -> Intervention:
        """Keep ``node_id``'s value from a run of the current prompt, whatever prompt follows."""
        return self.add(_spec(Freeze, node=node_id, positions=positions, prompt=self.prompt))

    def patch(
        self,
        source: str,
        target: str,
        source_prompt: str | None = None,
        positions: list[int] | None = None,
    ) -> Intervention:
        """Copy ``source``'s activation on ``source_prompt`` (default: the current prompt) into
        ``target`` when the session's prompt runs."""
        spec = _spec(
            Patch,
            node=target,
            source=source,
            source_prompt=self.prompt if source_prompt is None else source_prompt,
            positions=positions,
        )
        return self.add(spec)

    def remove(self, intervention_id: str) -> None:
        kept = [i for i in self._state.interventions if i.id != intervention_id]
        if len(kept) == len(self._state.interventions):
            raise TranspectorError(f"no intervention with id '{intervention_id}'")
        self._change("remove_intervention", {"id": intervention_id}, interventions=kept)

    def clear(self) -> None:
        self._change("clear_interventions", {}, interventions=[])

    def add(self, spec: Intervention) -> Intervention:
        """Add an intervention spec; it gets an id when it has none. The helpers above call this."""
        if not spec.id:
            spec = spec.model_copy(update={"id": _new_id()})
        if any(i.id == spec.id for i in self._state.interventions):
            raise TranspectorError(f"an intervention with id {spec.id!r} exists already")
        plan(spec, self.graph)
        check_references([spec], self._state.reference_prompts)
        n_pos = int(self._tokens(self.prompt).shape[1])
        check_positions(spec.positions, n_pos, spec.node)
        if isinstance(spec, Patch):
            source_len = int(self._tokens(spec.source_prompt).shape[1])
            check_source_length(source_len, n_pos, spec.positions)
        added = [*self._state.interventions, spec]
        self._change("add_intervention", {"intervention": spec.model_dump()}, interventions=added)
        return spec

    # ---- runs and tools ----------------------------------------------------------------------
    def context(self, prompt: str | None = None, keep: bool = True) -> RunContext:
        """The run of ``prompt`` (default: the session's) in the current state: one forward per
        state and prompt, its activations shared by every view and tool."""
        text = self.prompt if prompt is None else prompt
        tokens = self._tokens(text)
        s = self._state
        capture = [h for tool in (*OUTPUTS, *AFTER_RUN) for h in tool.hooks(self.graph)]
        return self._contexts.get(
            text,
            tokens,
            s.interventions,
            s.reference_prompts,
            s.version,
            self._hooks_for,
            capture,
            keep=keep,
        )

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

    def str_tokens(self, context: RunContext) -> list[str]:
        return self._adapter.str_tokens(context.tokens[0])

    def call(self, tool: str, prompt: str | None = None, **args: Any) -> BaseModel:
        """Call a tool by name (``session.tools.<name>(...)`` does the same) on ``prompt``
        (default: the session's) in the current state; returns its Result model. Long tools
        show a progress bar."""
        found = tool_named(tool)
        parsed = self.tool_args(tool, args)
        if found.compute is not None:
            return found.compute(self.context(prompt), parsed)
        assert found.steps is not None
        return drive(found.steps(self, parsed))

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
        [pos, ...] (a neuron: [pos]); ``what="norm"`` gives the L2 norm per position. Without
        ``what``, what the canvas shows for that node (its ``shows``)."""
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
        with self._adapter.applied(self._hooks_for(n_pos)) as model:
            yield model

    def _hooks_for(self, n_pos: int) -> Hooks:
        return self._sources.hooks(
            self._state.interventions, self.graph, n_pos, self._state.reference_prompts
        )

    def _tokens(self, prompt: str) -> torch.Tensor:
        return self._adapter.to_tokens(prompt, self.graph.n_ctx)

    # ---- code, hooks, persistence ------------------------------------------------------------
    def code(self) -> str:
        """Python that reproduces the current state with plain TransformerLens hooks; run with
        ``model`` bound to the live model, it leaves the intervened logits [pos, d_vocab] in
        ``logits``."""
        return codegen.render(self._state, self.graph)

    def hooks(self) -> list[HookInfo]:
        return self._adapter.list_hooks()

    def reset_foreign_hooks(self) -> int:
        return self._adapter.remove_foreign_hooks()

    def save(self, path: str | os.PathLike[str]) -> None:
        target = Path(path)
        partial = target.with_name(target.name + ".tmp")
        partial.write_text(self._state.model_dump_json(indent=1))
        partial.replace(target)

    def load(self, path: str | os.PathLike[str]) -> None:
        restored = self._restore(Path(path))
        fields = restored.model_dump(exclude={"version", "model_name"})
        self._change("load_state", {"path": str(path)}, **fields)

    def _restore(self, path: Path) -> SessionState:
        try:
            state = SessionState.model_validate(json.loads(path.read_text()))
        except (ValueError, OSError) as error:
            raise TranspectorError(f"cannot read session state {path}: {error}") from error
        for spec in state.interventions:
            plan(spec, self.graph)
        return state

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


def _new_id() -> str:
    return uuid.uuid4().hex[:8]


def _spec(kind: type[Spec], **fields: Any) -> Spec:
    """An intervention spec made in a cell; a TranspectorError that says what is wrong."""
    try:
        return kind(**fields)
    except ValidationError as error:
        raise TranspectorError(f"{kind.__name__.lower()}: {first_error(error)}") from None


def _renamed(old: AblationMethod | None, new: AblationMethod) -> AblationMethod:
    if old is None:
        return new
    warnings.warn("kind= is deprecated: pass method=", DeprecationWarning, stacklevel=3)
    return old
