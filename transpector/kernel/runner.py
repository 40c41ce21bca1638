"""Forward passes over the live model: tokens checked, interventions applied as temporary hooks
inside one synchronous block, only the hooks a result needs captured (DESIGN invariants 1, 3)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import torch

from transpector.errors import TranspectorError
from transpector.kernel import analysis
from transpector.kernel import hook_functions as hf
from transpector.kernel.interventions import hook_of, plan, value_of
from transpector.kernel.targets import check_positions
from transpector.protocol.graph import GraphSpec
from transpector.protocol.interventions import Intervention
from transpector.protocol.run import LogitLens, TokenProb

Hooks = list[tuple[str, Callable[..., Any]]]


@dataclass
class RunResult:
    prompt: str
    tokens: list[str]
    token_ids: list[int]
    top_k: list[list[TokenProb]]  # per position, the k most likely next tokens
    loss: list[float]  # entry i: loss of predicting token i+1
    logit_lens: LogitLens | None
    head_dla: list[list[float]]  # [layer][head], to the top token at the last position
    dla_token: TokenProb
    logits: torch.Tensor  # [pos, d_vocab]; stays in Python
    version: int


class Runner:
    def __init__(self, model: Any, graph: GraphSpec) -> None:
        self.model = model
        self.graph = graph
        self._acts: dict[tuple[str, str], Any] = {}
        self._acts_key: object = None
        self._w_o_cache: tuple[object, torch.Tensor] | None = None

    def tokens(self, prompt: str) -> torch.Tensor:
        """[1, pos] token ids of a prompt that fits the model."""
        if not prompt.strip():
            raise TranspectorError("the prompt is empty; type some text")
        ids = self.model.to_tokens(prompt, truncate=False)
        if ids.shape[1] > self.graph.n_ctx:
            raise TranspectorError(
                f"the prompt has {ids.shape[1]} tokens; this model takes at most {self.graph.n_ctx}"
            )
        return ids

    def activations(self, prompts: Sequence[str], hook: str) -> list[Any]:
        """Clean activations of ``hook`` for each prompt, cached while weights and hooks stay."""
        key = self._model_key()
        if key != self._acts_key:
            self._acts, self._acts_key = {}, key
        missing = [p for p in dict.fromkeys(prompts) if (p, hook) not in self._acts]
        for prompt in missing:
            self.tokens(prompt)
        if missing:
            for prompt, act in zip(
                missing, hf.capture(self.model, missing, [hook])[hook], strict=True
            ):
                self._acts[(prompt, hook)] = act
        return [self._acts[(p, hook)] for p in prompts]

    def intervention_hooks(
        self, specs: Sequence[Intervention], n_pos: int, reference_prompts: Sequence[str]
    ) -> Hooks:
        def count(prompt: str) -> int:
            return int(self.tokens(prompt).shape[1])

        hooks = []
        for spec in specs:
            for step in plan(spec, self.graph):
                value = value_of(step, n_pos, reference_prompts, self.activations, count)
                hooks.append(hook_of(step, value))
        return hooks

    def forward(
        self, tokens: torch.Tensor, hooks: Hooks, capture: Sequence[str]
    ) -> tuple[torch.Tensor, dict[str, Any]]:
        """Logits [pos, d_vocab] and the captured activations, hooks removed on every exit."""
        found: dict[str, Any] = {}

        def keep(act: Any, hook: Any, name: str) -> None:
            found[name] = act

        keepers = []
        for name in capture:
            fn = partial(keep, name=name)
            fn._transpector = True  # type: ignore[attr-defined]
            keepers.append((name, fn))
        with torch.inference_mode(), self.model.hooks(fwd_hooks=[*hooks, *keepers]):
            logits = self.model(tokens)
        return logits[0], found

    def run(
        self, prompt: str, hooks_for: Callable[[int], Hooks], k: int, lens: bool, version: int
    ) -> RunResult:
        tokens = self.tokens(prompt)
        g = self.graph
        z_names = [g.node(f"L{layer}.attn").hooks["z"] for layer in range(g.n_layers)]
        scale = g.node("ln_final").hooks.get("scale") if g.has("ln_final") else None
        lens_names = self._lens_hooks() if lens else []
        capture = [*z_names, *([scale] if scale else []), *lens_names]
        logits, found = self.forward(tokens, hooks_for(tokens.shape[1]), capture)
        with torch.inference_mode():
            last = int(logits[-1].argmax())
            scale_last = found[scale][0, -1, 0] if scale else torch.tensor(1.0)
            z_last = torch.stack([found[name][0, -1] for name in z_names])
            dla = analysis.head_dla(self.model, self._w_o(), z_last, scale_last, last)
            lens_result = None
            if lens:
                stack = torch.stack([found[name][0] for name in lens_names])
                lens_result = analysis.logit_lens(self.model, stack, self.lens_rows())
            top = analysis.top_k(self.model, logits, k)
            ids = tokens[0]
            prob_last = float(logits[-1].float().softmax(-1)[last])
            return RunResult(
                prompt=prompt,
                tokens=[str(t) for t in self.model.to_str_tokens(ids)],
                token_ids=ids.tolist(),
                top_k=top,
                loss=analysis.token_loss(logits, ids),
                logit_lens=lens_result,
                head_dla=dla,
                dla_token=TokenProb(token=top[-1][0].token, id=last, prob=prob_last),
                logits=logits.detach().clone(),
                version=version,
            )

    def _lens_hooks(self) -> list[str]:
        return [self.graph.node(row).hooks["out"] for row in self.lens_rows()]

    def lens_rows(self) -> list[str]:
        """The logit lens's rows: resid_pre of every layer, then the last resid_post."""
        n = self.graph.n_layers
        return [f"L{layer}.resid_pre" for layer in range(n)] + [f"L{n - 1}.resid_post"]

    def lens_top_k(
        self, prompt: str, hooks_for: Callable[[int], Hooks], row: str, position: int, k: int
    ) -> list[TokenProb]:
        """The k most likely tokens of one logit-lens cell: ``row``'s residual at ``position``."""
        rows = self.lens_rows()
        if row not in rows:
            raise TranspectorError(
                f"'{row}' is not a logit lens row; rows are {rows[0]} ... {rows[-1]}"
            )
        resid = self.activation(prompt, hooks_for, self.graph.node(row).hooks["out"])
        check_positions([position], resid.shape[0], row)
        with torch.inference_mode():
            logits = analysis.lens_logits(self.model, resid[position])
            return analysis.top_k(self.model, logits[None], k)[0]

    def activation(self, prompt: str, hooks_for: Callable[[int], Hooks], hook: str) -> Any:
        """``hook``'s activation [pos, ...] on ``prompt``, with the hooks ``hooks_for`` makes."""
        tokens = self.tokens(prompt)
        _, found = self.forward(tokens, hooks_for(tokens.shape[1]), [hook])
        return found[hook][0]

    def _w_o(self) -> torch.Tensor:
        """The stacked W_O [layer, head, d_head, d_model], rebuilt only when weights change."""
        key = self._weights_key()
        if self._w_o_cache is None or self._w_o_cache[0] != key:
            self._w_o_cache = (key, self.model.W_O.detach())
        return self._w_o_cache[1]

    def _weights_key(self) -> tuple[int, ...]:
        return tuple(p._version for p in self.model.parameters())

    def _model_key(self) -> object:
        """Changes when weights change in place or hooks are added or removed."""
        hooks = tuple(len(hp.fwd_hooks) for hp in self.model.hook_dict.values())
        return self._weights_key(), hooks
