"""The only module that touches TransformerLens or bridge internals (DESIGN invariant 5).

Everything else asks this adapter for tokens, forwards with hooks and captures, weights, hook
ownership, and the keys that say when cached weights or activations went stale. Activations come
back without their batch dimension: ``[pos, ...]``.

Resumed forwards live beside it, in ``adapter/resume.py``; token texts (bytes of a partial UTF-8
character shown as ``<0x..>``) in ``adapter/tokens.py``.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterator, Sequence
from contextlib import contextmanager
from functools import partial
from typing import Any, Literal

import torch

from transpector.errors import TranspectorError
from transpector.kernel import hook_runtime
from transpector.kernel.adapter.resume import (
    BlockKwargs,
    can_resume,
    capture_block_kwargs,
    hook_layer,
    resume_forward,
)
from transpector.kernel.adapter.tokens import TokenTexts
from transpector.protocol.hooks import HookInfo

__all__ = [
    "BlockKwargs",
    "Hooks",
    "ModelAdapter",
    "can_resume",
    "capture_block_kwargs",
    "check_text",
    "hook_layer",
    "is_owned",
    "mark_owned",
    "resume_forward",
]
Hooks = list[tuple[str, Callable[..., Any]]]
OWNED = "_transpector"  # attribute set on every hook function Transpector adds
VOCAB_SLICE = 4096  # the lens's logits per slice: [rows, 4096], a few MB


def check_text(text: str, what: str) -> None:
    """A TranspectorError for text that is not valid Unicode (a lone surrogate such as
    ``\\ud800``, which no tokenizer or JSON file takes), saying where it is."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:
        bad = text[error.start]
        raise TranspectorError(
            f"{what} has a lone surrogate {bad!r} at character {error.start}: it is not valid "
            "Unicode text; remove it or replace it with the character meant"
        ) from None


def mark_owned(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Mark a hook function as Transpector's, so the hooks card and reset leave it alone."""
    setattr(fn, OWNED, True)
    return fn


def is_owned(fn: Any) -> bool:
    return bool(getattr(fn, OWNED, False))


class ModelAdapter:
    def __init__(self, model: Any) -> None:
        self.model = model
        self._w_o: tuple[object, torch.Tensor] | None = None
        self._decoded: dict[int, str] = {}
        self._texts = TokenTexts(model.tokenizer)
        # Listed once: walking the bridge's module tree takes ~15 ms on SmolLM2, every time.
        self._parameters = list(model.parameters())
        self._hook_points = list({id(p): p for p in model.hook_dict.values()}.values())

    # ---- config and tokens -------------------------------------------------------------------
    @property
    def cfg(self) -> Any:
        return self.model.cfg

    @property
    def hook_names(self) -> set[str]:
        return set(self.model.hook_dict)

    def to_tokens(self, prompt: str, n_ctx: int) -> torch.Tensor:
        """[1, pos] token ids of a prompt that fits the model."""
        if not prompt.strip():
            raise TranspectorError("the prompt is empty; type some text")
        check_text(prompt, "the prompt")
        ids: torch.Tensor = self.model.to_tokens(prompt, truncate=False)
        if ids.shape[1] > n_ctx:
            raise TranspectorError(
                f"the prompt has {ids.shape[1]} tokens; this model takes at most {n_ctx}"
            )
        return ids

    def single_token(self, text: str) -> int:
        """The id of ``text`` when it is exactly one token (no BOS), else a TranspectorError."""
        check_text(text, "the token")
        ids = self.model.tokenizer.encode(text, add_special_tokens=False)
        if len(ids) != 1:
            parts = ", ".join(repr(t) for t in self.decode(ids))
            raise TranspectorError(
                f"{text!r} is {len(ids)} tokens ({parts}); give one token, often with its "
                "leading space, e.g. ' Paris'"
            )
        return int(ids[0])

    def str_tokens(self, ids: torch.Tensor) -> list[str]:
        """Each token of ``ids`` [pos] as text; one that is part of a UTF-8 character shows its
        bytes as <0x..> (adapter/tokens.py)."""
        texts = [str(t) for t in self.model.to_str_tokens(ids)]
        return self._texts.shown(ids.flatten().tolist(), texts)

    def decode(self, ids: Sequence[int]) -> list[str]:
        """Each id decoded on its own, as ``str_tokens`` shows it; every distinct id is decoded
        once per session."""
        missing = [i for i in dict.fromkeys(ids) if i not in self._decoded]
        texts = self.model.tokenizer.batch_decode([[i] for i in missing])
        for i, text in zip(missing, self._texts.shown(missing, texts), strict=True):
            self._decoded[i] = str(text)
        return [self._decoded[i] for i in ids]

    # ---- forwards ------------------------------------------------------------------------------
    def forward(
        self, tokens: torch.Tensor, hooks: Hooks, capture: Sequence[str]
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Logits [pos, d_vocab] and the captured activations [pos, ...]; hooks removed on every
        exit (temporary hooks in one synchronous block, invariant 1)."""
        found: dict[str, torch.Tensor] = {}

        def keep(act: torch.Tensor, hook: Any, name: str) -> None:
            found[name] = act[0]

        keepers = [(name, mark_owned(partial(keep, name=name))) for name in capture]
        with torch.inference_mode(), self.model.hooks(fwd_hooks=[*hooks, *keepers]):
            logits = self.model(tokens)
        return logits[0], found

    def forward_keeping_inputs(
        self, tokens: torch.Tensor, hooks: Hooks, capture: Sequence[str]
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor], BlockKwargs]:
        """``forward``, plus what it passed every block: a later run resumes from it."""
        with capture_block_kwargs(self.model) as kwargs:
            logits, found = self.forward(tokens, hooks, capture)
        return logits, found, kwargs

    def resume(
        self,
        resid_pre: torch.Tensor,
        kwargs: BlockKwargs,
        layer: int,
        hooks: Hooks,
        capture: Sequence[str],
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Logits [pos, d_vocab] and captures [pos, ...] of a forward resumed at block ``layer``
        from its input ``resid_pre`` [pos, d_model]; ``hooks`` and ``capture`` must fire at or
        after that block."""
        found: dict[str, torch.Tensor] = {}

        def keep(act: torch.Tensor, hook: Any, name: str) -> None:
            found[name] = act[0]

        keepers = [(name, mark_owned(partial(keep, name=name))) for name in capture]
        logits = resume_forward(self.model, resid_pre[None], kwargs, layer, [*hooks, *keepers])
        return logits[0], found

    def resume_problem(self) -> str | None:
        """None when this model can resume forwards, else why not."""
        return can_resume(self.model)

    def clean_captures(self, prompts: Sequence[str], hook: str) -> list[torch.Tensor]:
        """``hook``'s activation [pos, ...] on each prompt, from runs without interventions."""
        return hook_runtime.capture(self.model, prompts, [hook])[hook]

    @contextmanager
    def applied(self, hooks: Hooks) -> Iterator[Any]:
        """The model with ``hooks`` on it for the block, removed on exit."""
        with self.model.hooks(fwd_hooks=hooks):
            yield self.model

    # ---- weights -------------------------------------------------------------------------------
    def final_norm(self) -> torch.nn.Module:
        return self.model.ln_final.original_component

    def unembed(self) -> torch.nn.Module:
        return self.model.unembed.original_component

    def lens_logits(self, resid: torch.Tensor) -> torch.Tensor:
        """Residual vectors [..., d_model] read as the model's output: final norm, then unembed."""
        logits: torch.Tensor = self.unembed()(self.final_norm()(resid)).float()
        return logits

    def lens_top1(self, resid: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The top-1 token id and its probability of each residual vector of ``resid`` [n,
        d_model] read as the model's output (see ``lens_top1_parts``)."""
        parts = self.lens_top1_parts(resid)
        while True:
            try:
                next(parts)
            except StopIteration as end:
                found: tuple[torch.Tensor, torch.Tensor] = end.value
                return found

    def lens_top1_parts(
        self, resid: torch.Tensor
    ) -> Generator[None, None, tuple[torch.Tensor, torch.Tensor]]:
        """``lens_top1``, yielding after each slice of the vocabulary (a caller can give way
        there). The unembedding is read once, in slices, with a running max and sum of
        exponentials, so no [n, d_vocab] logits are kept (they would not fit in cache)."""
        unembed = self.unembed()
        if not isinstance(unembed, torch.nn.Linear):  # any other unembedding: plain logits
            with torch.inference_mode():
                logits = self.lens_logits(resid)
                best, ids = logits.max(-1)
                return ids, (best - logits.logsumexp(-1)).exp()
        with torch.inference_mode():
            x = self.final_norm()(resid)
        n = x.shape[0]
        top = torch.full((n,), -torch.inf, dtype=torch.float32)
        ids = torch.zeros(n, dtype=torch.long)
        total = torch.zeros(n, dtype=torch.float32)
        weight, bias = unembed.weight, unembed.bias
        for start in range(0, weight.shape[0], VOCAB_SLICE):
            if start > 0:
                yield
            end = start + VOCAB_SLICE
            with torch.inference_mode():  # per slice: the mode must not outlive a yield
                part = bias[start:end] if bias is not None else None
                logits = torch.nn.functional.linear(x, weight[start:end], part).float()
                best, at = logits.max(-1)
                new_top = torch.maximum(top, best)
                # exp is ~16x slower where its result would be denormal: clamp first (e^-80 is
                # 2e-35 of the top token's weight, far below float32's resolution of the sum).
                shifted = (logits - new_top[:, None]).clamp_(min=-80.0)
                total = total * (top - new_top).exp() + shifted.exp_().sum(-1)
                ids = torch.where(best > top, at + start, ids)
                top = new_top
        return ids, total.reciprocal()

    def w_o(self) -> torch.Tensor:
        """The stacked W_O [layer, head, d_head, d_model], rebuilt only when weights change."""
        key = self.weights_key()
        if self._w_o is None or self._w_o[0] != key:
            self._w_o = (key, self.model.W_O.detach())
        return self._w_o[1]

    def logit_direction(self, token: int) -> torch.Tensor:
        """The direction d [d_model] with logit[token] = center(x) . d / scale + const for the
        residual x before the final norm: W_U[:, token] times the norm's weight, centered for
        LayerNorm (center(c) . d == c . center(d))."""
        direction: torch.Tensor = self.unembed().weight[token]
        weight = getattr(self.final_norm(), "weight", None)
        if weight is not None:
            direction = direction * weight
        if self.cfg.normalization_type in ("LN", "LNPre"):
            direction = direction - direction.mean()
        return direction

    # ---- cache keys ----------------------------------------------------------------------------
    def weights_key(self) -> tuple[int, ...]:
        """Changes when any weight is changed in place."""
        return tuple(p._version for p in self._parameters)

    def model_key(self) -> object:
        """Changes when weights change in place or hooks are added or removed."""
        hooks = tuple(len(point.fwd_hooks) for point in self._hook_points)
        return self.weights_key(), hooks

    # ---- hooks on the live model ---------------------------------------------------------------
    def list_hooks(self) -> list[HookInfo]:
        rows = []
        for name, point in self._points():
            for direction in ("fwd", "bwd"):
                for handle in _handles(point, direction):
                    rows.append(
                        HookInfo(
                            hook_point=name,
                            function=_describe(handle.user_hook),
                            direction=direction,
                            owned=is_owned(handle.user_hook),
                            permanent=bool(handle.is_permanent),
                        )
                    )
        return rows

    def remove_stale_hooks(self, every_temporary: bool = False) -> int:
        """Remove what an interrupted hooks block left on the model; how many. Ctrl-C in a cell
        while TransformerLens's ``model.hooks`` adds or removes hooks can leave a torch hook that
        ``HookPoint.add_hook`` registered but never recorded (nothing else sees or removes it),
        or Transpector's own temporary hooks of a block that has exited (their level is above
        the model's). ``every_temporary``: every hook any ``model.hooks`` block added, for when
        an interrupt has gone out through all of them. Either would act on every later forward."""
        level = -1 if every_temporary else getattr(self.model, "context_level", 0)
        removed = 0
        for point in self._hook_points:
            if not (
                point.fwd_hooks or point.bwd_hooks or point._forward_hooks or point._backward_hooks
            ):
                continue  # nothing on it, as on most points: one quick look each
            for direction in ("fwd", "bwd"):
                handles = point.fwd_hooks if direction == "fwd" else point.bwd_hooks
                stale = {id(h) for h in handles if _left_behind(h, level)}
                for handle in handles:
                    if id(handle) in stale:
                        handle.hook.remove()
                handles[:] = [h for h in handles if id(h) not in stale]
                removed += len(stale)
            tracked = {h.hook.id for h in [*point.fwd_hooks, *point.bwd_hooks]}
            for hooks in (point._forward_hooks, point._backward_hooks):
                for key, fn in list(hooks.items()):
                    if key not in tracked and _is_hook_point_wrapper(fn):
                        del hooks[key]
                        point._forward_hooks_with_kwargs.pop(key, None)
                        point._forward_hooks_always_called.pop(key, None)
                        removed += 1
        return removed

    def remove_foreign_hooks(self) -> int:
        """Remove every hook Transpector does not own, permanent ones included, and what an
        interrupted block left (``remove_stale_hooks``); how many."""
        removed = self.remove_stale_hooks()
        for _, point in self._points():
            for direction in ("fwd", "bwd"):
                kept = []
                for handle in _handles(point, direction):
                    if is_owned(handle.user_hook):
                        kept.append(handle)
                    else:
                        handle.hook.remove()
                        removed += 1
                setattr(point, f"{direction}_hooks", kept)
        return removed

    def _points(self) -> list[tuple[str, Any]]:
        """Each hook point once, under its TransformerLens name when it has one (the bridge also
        lists every point under a generic alias such as blocks.0.hook_in for hook_resid_pre)."""
        names: dict[int, list[str]] = {}
        points: dict[int, Any] = {}
        for name, point in self.model.hook_dict.items():
            names.setdefault(id(point), []).append(name)
            points[id(point)] = point
        return [(_tl_name(names[key]), points[key]) for key in points]


def _tl_name(names: list[str]) -> str:
    generic = (".hook_in", ".hook_out")
    specific = [n for n in names if not n.endswith(generic) and n not in generic]
    return (specific or names)[0]


def _handles(point: Any, direction: Literal["fwd", "bwd"]) -> list[Any]:
    return list(point.fwd_hooks if direction == "fwd" else point.bwd_hooks)


def _left_behind(handle: Any, level: int) -> bool:
    """Whether ``handle`` is a ``model.hooks`` block's hook, of Transpector's unless ``level``
    is -1 (any), from a block above ``level``: one that has exited."""
    if handle.is_permanent or handle.context_level is None:
        return False
    return level < 0 or (is_owned(handle.user_hook) and handle.context_level > level)


def _is_hook_point_wrapper(fn: Any) -> bool:
    """Whether ``fn`` is the wrapper ``HookPoint.add_hook`` registers with torch."""
    return str(getattr(fn, "__qualname__", "")).startswith("HookPoint.add_hook.<locals>.")


def _describe(fn: Any) -> str:
    inner = getattr(fn, "func", fn)
    return str(getattr(inner, "__qualname__", None) or repr(inner))
