"""The Session's deferred API: ``session.trace`` and ``session.generate`` over nnsight.

    with session.trace("The capital of France is") as tr:
        z = tr.hook("blocks.3.attn.hook_z").output.save()      # [batch, pos, head, d_head]
        tr.hook("blocks.3.attn.hook_z").head(2)[:] = 0           # zero head 3.2
        logits = tr.model.output.save()

The session's interventions apply inside unless ``interventions=False``. Nothing stays on the
model after the block: the interventions are temporary hooks around each forward, removed on
every exit; nnsight's own wrapping of the modules (installed once, on the first trace) does
nothing outside a trace.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from typing import Any

import torch

from transpector.errors import TranspectorError
from transpector.kernel.adapter import Hooks
from transpector.kernel.adapter.deferred import BridgePoints
from transpector.kernel.interventions import plan
from transpector.protocol.graph import GraphSpec
from transpector.protocol.state import SessionState


class DeferredMethods:
    """Mixed into Session, which provides the model, its state, hooks and tokens."""

    model: Any
    graph: GraphSpec
    _state: SessionState
    _deferred: tuple[Any, BridgePoints] | None = None

    def _tokens(self, prompt: str) -> torch.Tensor:
        raise NotImplementedError

    def _hooks_for(self, n_pos: int) -> Hooks:
        raise NotImplementedError

    def _sweeping(self) -> Any:
        raise NotImplementedError

    @property
    def envoy(self) -> Any:
        """The model wrapped by nnsight (``NNsight``), for ``.output`` / ``.input`` on modules."""
        return self._wrapped()[0]

    def trace(
        self,
        *prompts: Any,
        interventions: bool = True,
        grad: bool = False,
        device: str | torch.device | None = None,
        remote: bool | str = False,
        blocking: bool = True,
    ) -> Any:
        """A deferred trace (nnsight): ``with session.trace("prompt") as tr:`` runs the model
        once on leaving the block; or ``with session.trace() as tr:`` and one
        ``with tr.invoke("prompt"):`` per prompt, batched (left padding). Read and write
        ``tr.hook("blocks.0.attn.hook_z").output``, ``tr.model.blocks[0].output``; keep values
        with ``.save()``. ``interventions=False`` runs without the session's interventions;
        ``grad=True`` keeps autograd on (for ``.backward()`` inside). ``remote="local"`` runs
        nnsight's remote round trip in this process: the block is serialized as for a server,
        deserialized with local modules hidden, and run on the model here. ``remote=True`` runs
        it on NDIF (nnsight's ``RemoteBackend``; host and key from nnsight's config), without the
        session's interventions; ``blocking=False`` returns once it is sent, and ``tr.backend()``
        then gives the saved values by name (None while the job runs)."""
        backend = self._backend(remote, blocking, interventions)
        return self._tracer(prompts, "forward", {}, interventions, grad, device, backend)

    def generate(
        self,
        *prompts: Any,
        max_new_tokens: int = 1,
        interventions: bool = True,
        grad: bool = False,
        device: str | torch.device | None = None,
    ) -> Any:
        """A deferred greedy generation: ``for step in tr.iter[:]`` applies the loop body at
        every step (``tr.iter[1]``: the second only); each step runs the whole sequence again.
        ``tr.result`` is the ids [batch, pos + max_new_tokens]."""
        if isinstance(max_new_tokens, bool) or not isinstance(max_new_tokens, int):
            raise TranspectorError(f"max_new_tokens is a whole number, not {max_new_tokens!r}")
        if max_new_tokens < 1:
            raise TranspectorError(f"max_new_tokens is at least 1, not {max_new_tokens}")
        extra = {"max_new_tokens": max_new_tokens}
        return self._tracer(prompts, "generate", extra, interventions, grad, device)

    def _tracer(
        self,
        prompts: tuple[Any, ...],
        fn: str,
        extra: dict[str, Any],
        interventions: bool,
        grad: bool,
        device: str | torch.device | None,
        backend: Any = None,
    ) -> Any:
        from transpector.kernel.deferred.tracer import SessionTracer

        check_device(device, self.model)
        envoy, points = self._wrapped()
        envoy._run.tokens = {}
        for item in prompts:
            envoy._rows(item)  # a clear error now for a prompt that cannot run
        tracer = envoy.trace(
            *prompts, fn=getattr(envoy, fn), tracer_cls=SessionTracer, backend=backend, **extra
        )
        tracer.points = points

        @contextmanager
        def around() -> Iterator[None]:
            mode = nullcontext() if grad else torch.no_grad()
            envoy._run.hooks_for = self._deferred_hooks if interventions else None
            try:
                with self._sweeping(), mode:
                    yield
            finally:
                envoy._run.hooks_for = None
                envoy._run.lengths = []
                envoy._run.tokens = {}

        tracer.around = around
        return tracer

    def _backend(
        self, remote: bool | str, blocking: bool = True, interventions: bool = True
    ) -> Any:
        """nnsight's backend for ``remote``: None (run here), its local simulation, or NDIF."""
        if remote is False:
            return None
        if remote == "local":
            from transpector.kernel.deferred.remote import LocalRoundTrip

            return LocalRoundTrip(self._wrapped()[0])
        if remote is True:
            from transpector.kernel.deferred.ndif import remote_backend

            if interventions and self._state.interventions:
                raise TranspectorError(
                    "remote=True runs the block on NDIF's copy of the model, which has none of "
                    "this session's interventions: trace with interventions=False, or write "
                    "them in the block"
                )
            return remote_backend(self.model, blocking)
        raise TranspectorError(
            f"remote={remote!r}: remote is True (NDIF, at nnsight's configured host), 'local' "
            "(nnsight's serialization round trip in this process) or False"
        )

    def _nnsight_code(self) -> str:
        from transpector.kernel.deferred.code import render

        return render(self._state, self.graph, self._wrapped()[1].order())

    def _deferred_hooks(self, n_pos: int, padded: bool) -> Hooks:
        """The session's interventions for one forward of ``n_pos`` tokens; refused under left
        padding when any depends on positions (they count from a prompt's first token)."""
        if padded:
            for spec in self._state.interventions:
                for step in plan(spec, self.graph):
                    if step.positions is not None or step.recipe in ("resample", "copy"):
                        raise TranspectorError(
                            f"the {spec.kind} of {spec.node} depends on token positions, and "
                            "these prompts differ in length (left padded): give prompts of one "
                            "token count, or trace with interventions=False"
                        )
        return self._hooks_for(n_pos)

    def _wrapped(self) -> tuple[Any, BridgePoints]:
        if self._deferred is None:
            from transpector.kernel.deferred.envoy import BridgeEnvoy

            points = BridgePoints(self.model)
            self._deferred = (BridgeEnvoy(self.model, self._tokens, points.pad_id()), points)
        return self._deferred


def check_device(device: str | torch.device | None, model: Any) -> None:
    """A device that is not there, or is not where the model is, is refused before anything
    runs (move the model first: a trace never moves it)."""
    if device is None:
        return
    try:
        wanted = torch.device(device)
    except (RuntimeError, TypeError) as error:
        raise TranspectorError(f"{device!r} is not a device: {error}") from None
    here = next(model.parameters()).device
    if wanted.type == "cuda" and (
        not torch.cuda.is_available()
        or (wanted.index is not None and wanted.index >= torch.cuda.device_count())
    ):
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        raise TranspectorError(
            f"there is no device {str(wanted)!r} here ({count} CUDA devices); the model is on "
            f"{here}"
        )
    if wanted.type not in ("cpu", "cuda") and wanted.type != here.type:
        raise TranspectorError(f"there is no device {str(wanted)!r} here; the model is on {here}")
    if wanted.type != here.type or (wanted.index is not None and wanted.index != here.index):
        raise TranspectorError(
            f"the model is on {here}, not {wanted}: a trace runs where the model is (move the "
            "model first)"
        )
