"""A cache bounded in bytes with least-recently-used eviction (DESIGN: caches say how big they
are). Values are tensors; a value larger than the whole budget is returned to its caller but
not kept."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable

import torch

from transpector.protocol.hooks import CacheInfo


class ByteCache:
    def __init__(self, name: str, budget_bytes: int) -> None:
        self.name = name
        self.budget_bytes = budget_bytes
        self._entries: OrderedDict[Hashable, torch.Tensor] = OrderedDict()
        self._bytes = 0
        self.evictions = 0

    def get(self, key: Hashable) -> torch.Tensor | None:
        found = self._entries.get(key)
        if found is not None:
            self._entries.move_to_end(key)
        return found

    def put(self, key: Hashable, value: torch.Tensor) -> None:
        self._drop(key)
        size = value.numel() * value.element_size()
        if size > self.budget_bytes:
            return
        self._entries[key] = value
        self._bytes += size
        self.shrink()

    def shrink(self, budget_bytes: int | None = None) -> None:
        """Evict the least recently used entries until the cache fits (a new budget, if given)."""
        if budget_bytes is not None:
            self.budget_bytes = budget_bytes
        while self._bytes > self.budget_bytes and self._entries:
            self._drop(next(iter(self._entries)))
            self.evictions += 1

    def clear(self) -> None:
        self._entries.clear()
        self._bytes = 0

    def info(self) -> CacheInfo:
        return CacheInfo(
            name=self.name,
            bytes=self._bytes,
            budget_bytes=self.budget_bytes,
            entries=len(self._entries),
            evictions=self.evictions,
        )

    def _drop(self, key: Hashable) -> None:
        old = self._entries.pop(key, None)
        if old is not None:
            self._bytes -= old.numel() * old.element_size()
