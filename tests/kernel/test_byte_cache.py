"""The source activations' cache is bounded in bytes: least recently used entries go first, a
smaller budget evicts at once, results stay right after eviction, and the size is reported."""

from __future__ import annotations

import pytest
import torch

from transpector.errors import TranspectorError
from transpector.kernel.byte_cache import ByteCache
from transpector.kernel.session import Session


def test_least_recently_used_go_first_and_the_bytes_add_up() -> None:
    cache = ByteCache("test", budget_bytes=3 * 400)
    for name in "abc":
        cache.put(name, torch.zeros(100))  # 400 bytes each
    assert cache.get("a") is not None  # a is now the most recent
    cache.put("d", torch.zeros(100))
    assert cache.get("b") is None and all(cache.get(k) is not None for k in "acd")
    info = cache.info()
    assert (info.bytes, info.entries, info.evictions) == (1200, 3, 1)
    cache.put("huge", torch.zeros(1000))  # over the whole budget: not kept, nothing evicted
    assert cache.get("huge") is None and cache.info().entries == 3
    cache.put("a", torch.zeros(50))  # a replaced: its old bytes are gone
    assert cache.info().bytes == 1000
    cache.shrink(500)
    assert cache.info().bytes <= 500 and cache.get("a") is not None


def test_the_session_cache_stays_within_its_budget_and_results_stay_right(
    session: Session,
) -> None:
    sources = [f"hello w{chr(97 + i)}rld" for i in range(12)]
    session.patch("L0.H1", "L0.H1", source_prompt=sources[0])
    first = session.run().logits.clone()
    (activations,) = session.caches
    assert activations.name == "source activations" and activations.entries == 1
    one = activations.bytes
    assert one > 0 and activations.bytes <= activations.budget_bytes
    session.set_cache_budget(3 * one / (1 << 20))  # room for three
    for source in sources[1:]:
        session.clear()
        session.patch("L0.H1", "L0.H1", source_prompt=source)
        session.run()
    (activations,) = session.caches
    assert activations.entries == 3 and activations.bytes <= 3 * one
    assert activations.evictions >= 9
    session.clear()
    session.patch("L0.H1", "L0.H1", source_prompt=sources[0])  # evicted: computed again
    assert torch.equal(session.run().logits, first)


@pytest.mark.parametrize("budget", [-1, "big", True, 2e6])
def test_a_bad_budget_is_refused(session: Session, budget: object) -> None:
    before = session.caches[0].budget_bytes
    with pytest.raises(TranspectorError, match="a budget is"):
        session.set_cache_budget(budget)  # type: ignore[arg-type]
    assert session.caches[0].budget_bytes == before
