"""The Session's views of itself: its state as code, the hooks on the live model, and the
source activations' cache and budget."""

from __future__ import annotations

from typing import Any

from transpector.errors import TranspectorError
from transpector.kernel import codegen
from transpector.kernel.adapter import ModelAdapter
from transpector.kernel.interventions import edit_of
from transpector.protocol.graph import GraphSpec
from transpector.protocol.hooks import CacheInfo, HookInfo
from transpector.protocol.state import SessionState


class InspectionMethods:
    """Mixed into Session, which provides the state, the graph, the adapter and the sources."""

    _state: SessionState
    _adapter: ModelAdapter
    _sources: Any
    graph: GraphSpec

    def _nnsight_code(self) -> str:
        raise NotImplementedError

    def code(self, style: str = "transformer_lens") -> str:
        """Python that reproduces the current state, with plain TransformerLens hooks or
        (``style="nnsight"``) as an nnsight trace; run with ``model`` bound to the live model,
        it leaves the intervened logits [pos, d_vocab] in ``logits``."""
        if style == "nnsight":
            return self._nnsight_code()
        if style != "transformer_lens":
            raise TranspectorError(f"code style is 'transformer_lens' or 'nnsight', not {style!r}")
        sources = self._sources
        return codegen.render(
            self._state,
            self.graph,
            sources.vectors,
            sources.saes,
            lambda step: sources.edits.of(*edit_of(step)),
        )

    def hooks(self) -> list[HookInfo]:
        return self._adapter.list_hooks()

    def reset_foreign_hooks(self) -> int:
        return self._adapter.remove_foreign_hooks()

    @property
    def caches(self) -> list[CacheInfo]:
        """The kernel's caches and their size in bytes: the activations of reference and source
        prompts (mean and resample ablations, patches, freezes)."""
        return [self._sources.cache.info()]

    def set_cache_budget(self, megabytes: float) -> None:
        """The source activations' budget in MiB; the least recently used go first."""
        if isinstance(megabytes, bool) or not isinstance(megabytes, int | float):
            raise TranspectorError(f"a budget is a number of MiB, not {megabytes!r}")
        if not 0 <= megabytes <= 1 << 20:
            raise TranspectorError(f"a budget is 0 to 1048576 MiB, not {megabytes}")
        self._sources.cache.shrink(int(megabytes * (1 << 20)))
