"""Rank-one edits the session has computed, by what they edit and the weights they were
computed for. An ``EditFact`` intervention's hooks read its edit here; an edit that is missing
(added from the canvas after a restart, or after the weights changed) is computed again."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from transpector.kernel import hook_runtime as hf
from transpector.kernel.adapter import ModelAdapter, mark_owned
from transpector.kernel.knowledge.facts import Fact, Mlp, RankOne

Key = tuple[Any, ...]
KEPT = 32  # edits kept at most (each two vectors: d_mlp + d_model floats), least recent out


class FactEdits:
    def __init__(self, adapter: ModelAdapter) -> None:
        self.adapter = adapter
        self._kept: dict[Key, RankOne] = {}
        # how a missing edit is computed (the session sets it: it needs the dataset)
        self.compute: Callable[[Mlp, Fact], RankOne] | None = None

    def key(self, mlp: Mlp, fact: Fact) -> Key:
        return (self.adapter.weights_key(), mlp, fact)

    def kept(self, mlp: Mlp, fact: Fact) -> RankOne | None:
        key = self.key(mlp, fact)
        found = self._kept.pop(key, None)
        if found is not None:
            self._kept[key] = found  # most recently used last
        return found

    def keep(self, mlp: Mlp, fact: Fact, edit: RankOne) -> None:
        self._kept[self.key(mlp, fact)] = edit
        while len(self._kept) > KEPT:
            del self._kept[next(iter(self._kept))]

    def of(self, mlp: Mlp, fact: Fact) -> RankOne:
        """The edit, computed now when it is not kept."""
        found = self.kept(mlp, fact)
        if found is None:
            assert self.compute is not None
            found = self.compute(mlp, fact)
            self.keep(mlp, fact, found)
        return found

    def hooks(self, mlp: Mlp, fact: Fact) -> list[Any]:
        edit = self.of(mlp, fact)
        pairs = hf.rank_one_hooks(mlp.keys, mlp.out, edit.left, edit.right)
        return [(name, mark_owned(fn)) for name, fn in pairs]
