"""nnsight's own envoy over the session's bridge: how invokes batch and what a trace runs.

``NNsight(model)`` handles one input; several ``tr.invoke(...)`` need ``_batch_size`` and
``_batch``: each prompt becomes its token ids (BOS first, as ``model.to_tokens``), prompts of
different lengths are padded on the left with an attention mask (the bridge derives the
positions from it). ``forward`` and ``generate`` are what a trace runs: one forward, or a greedy
token loop of full forwards (every step is one more occurrence of every module, which
``tr.iter[...]`` selects). The session's interventions go on as temporary TransformerLens hooks
around each forward, valued for that forward's length.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from nnsight import NNsight
from nnsight.intervention.envoy import Envoy

from transpector.errors import TranspectorError
from transpector.kernel.adapter import Hooks

HooksFor = Callable[[int, bool], Hooks]  # (padded length, padded?) -> hooks for that forward


@dataclass
class Run:
    """The trace in progress: each row's token count (grows while generating), the session's
    hooks for a forward (None: none), and the token ids of its prompts."""

    lengths: list[int] = field(default_factory=list)
    hooks_for: HooksFor | None = None
    tokens: dict[str, torch.Tensor] = field(default_factory=dict)  # this trace's prompts


def _save_nothing(envoy: Any) -> Any:
    raise TranspectorError(
        f"{envoy.path}.save() saves nothing: a module holds no value; save one of its values, "
        f"e.g. {envoy.path}.output.save()"
    )


class Tokenize:
    """The prompt -> token ids [1, pos] function of the model; a request names it by nnsight's
    persistent id ``Tokenizer`` and a server gives its own model's."""

    def __init__(self, fn: Callable[[str], torch.Tensor]) -> None:
        self.fn = fn

    def __call__(self, prompt: str) -> torch.Tensor:
        return self.fn(prompt)


class LazyChildren:
    """Envoys of submodules made when first reached (``tr.model.blocks[3]``, ``tr.hook(...)``),
    not all at once: nnsight's handoff runs on every call of a wrapped module while a trace runs
    (about 5 us each), and the bridge calls some 1,760 modules a forward, most of them hook
    points no trace reads. A module reached is wrapped for good, as nnsight does."""

    def _add_envoy(self, name: str, module: torch.nn.Module) -> Any:
        if not self.__dict__.get("_built"):
            return None  # while nnsight builds this envoy: the child comes when reached
        return Envoy._add_envoy(self, name, module)  # by value, no super() cell (see below)

    def _built_now(self) -> None:
        self._built = True


class ModuleEnvoy(LazyChildren, Envoy):  # type: ignore[misc]
    """nnsight's envoy of one module of the bridge; ``.save()`` on it is refused."""

    save = _save_nothing

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        Envoy.__init__(self, *args, **kwargs)  # a request builds these on the far side too
        self._built_now()


class BridgeEnvoy(LazyChildren, NNsight):  # type: ignore[misc]
    """The bridge wrapped by nnsight, with prompt batching and generation."""

    save = _save_nothing

    def __init__(self, model: Any, tokens: Callable[[str], torch.Tensor], pad_id: int) -> None:
        super().__init__(model, envoys=ModuleEnvoy)
        self._built_now()
        self._tokens_of = Tokenize(tokens)
        self._pad_id = pad_id
        self._run = Run()

    # ---- remote serialization (nnsight's remote="local" round trip) ---------------------------
    def __getstate__(self) -> dict[str, Any]:
        """What travels in a request: the envoy without the run state; its modules, interleaver
        and tokenizer by the persistent ids a server resolves to its own model's."""
        state: dict[str, Any] = super().__getstate__()
        state.pop("_run", None)
        state["_tokens_of"]._persistent_id = "Tokenizer"
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        # Sent by value, a method loses its super() cell (nnsight rebuilds functions from
        # source): what runs on the far side names its base class.
        NNsight.__setstate__(self, state)
        self._run = Run()  # the far side runs with no session interventions

    def _remoteable_persistent_objects(self) -> dict[str, Any]:
        """Every module of the model by the persistent id nnsight gives it (``Module:<path>``),
        wrapped or not, and the interleaver."""
        objects: dict[str, Any] = {
            "Interleaver": self.interleaver,
            "Module:model": self._module,
            "Tokenizer": self._tokens_of,
        }
        for path, module in self._module.named_modules():
            if path:
                objects[f"Module:model.{path}"] = module
        return objects

    # ---- batching (nnsight calls these for every trace) ----------------------------------------
    def _batch_size(self, *inputs: Any, **kwargs: Any) -> int:
        return sum(len(self._rows(item)) for item in inputs)

    def _rows(self, item: Any) -> list[torch.Tensor]:
        """Token id rows [pos] of one invoke input: a prompt, a list of prompts, or ids."""
        if isinstance(item, str):
            if item not in self._run.tokens:
                self._run.tokens[item] = self._tokens_of(item)[0]
            return [self._run.tokens[item]]
        if isinstance(item, torch.Tensor) and not item.is_floating_point():
            if item.ndim == 1:
                return [item]
            if item.ndim == 2:
                return list(item)
        if isinstance(item, list | tuple) and item and all(isinstance(p, str) for p in item):
            return [row for p in item for row in self._rows(p)]
        raise TranspectorError(
            f"an invoke takes a prompt, a list of prompts or token ids [pos] / [batch, pos], "
            f"not {type(item).__name__}"
        )

    def _batch(self, invokes: list[tuple[Any, ...]], fn: Any) -> tuple[Any, ...]:
        rows = [row for inputs, _ in invokes for item in inputs for row in self._rows(item)]
        extra = {k: v for _, kwargs in invokes for k, v in kwargs.items()}
        if not rows:
            return (), extra
        width = max(len(r) for r in rows)
        tokens = torch.full((len(rows), width), self._pad_id, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for i, row in enumerate(rows):
            tokens[i, width - len(row) :] = row
            mask[i, width - len(row) :] = 1
        self._run.lengths = [len(r) for r in rows]
        padded = any(len(r) != width for r in rows)
        return (tokens,), {**extra, "attention_mask": mask if padded else None}

    # ---- what a trace runs ---------------------------------------------------------------------
    def forward(self, tokens: torch.Tensor, attention_mask: torch.Tensor | None = None) -> Any:
        """One forward of ``tokens`` [batch, pos] with the session's hooks; the logits."""
        hooks = self._hooks(tokens.shape[1], attention_mask is not None)
        kwargs = {} if attention_mask is None else {"attention_mask": attention_mask}
        if not hooks:  # TransformerLens's hooks block walks every hook point on the way out
            return self._module(tokens, **kwargs)
        with self._module.hooks(fwd_hooks=hooks):
            return self._module(tokens, **kwargs)

    def generate(
        self,
        tokens: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        max_new_tokens: int = 1,
    ) -> torch.Tensor:
        """Greedy generation: ``max_new_tokens`` full forwards, each appending the most likely
        next token of every row; the ids [batch, pos + max_new_tokens]."""
        if isinstance(max_new_tokens, bool) or not isinstance(max_new_tokens, int):
            raise TranspectorError(f"max_new_tokens is a whole number, not {max_new_tokens!r}")
        n_ctx = int(self._module.cfg.n_ctx)
        if max_new_tokens < 1 or tokens.shape[1] + max_new_tokens > n_ctx:
            raise TranspectorError(
                f"max_new_tokens must be 1 to {n_ctx - tokens.shape[1]} here (the model takes "
                f"{n_ctx} tokens; the prompt has {tokens.shape[1]})"
            )
        for _ in range(max_new_tokens):
            logits = self.forward(tokens, attention_mask)
            next_ids = logits[:, -1].argmax(-1, keepdim=True).to(tokens.dtype)
            tokens = torch.cat([tokens, next_ids], dim=1)
            if attention_mask is not None:
                attention_mask = torch.cat([attention_mask, torch.ones_like(next_ids)], dim=1)
            self._run.lengths = [n + 1 for n in self._run.lengths]
        return tokens

    def _hooks(self, n_pos: int, padded: bool) -> Hooks:
        hooks_for = self._run.hooks_for
        return [] if hooks_for is None else hooks_for(n_pos, padded)
