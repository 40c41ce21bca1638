"""The dispatcher's runs: outputs first, the lens after in parts, and a newer edit never waits
for a stale lens."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Generator
from typing import Any

import pytest

from transpector.kernel import adapter, dispatch
from transpector.kernel.session import Session


def test_an_edit_during_the_lens_drops_it_and_runs_at_once(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(adapter, "VOCAB_SLICE", 50)  # 6 slices of the tiny vocabulary
    computed = session._adapter.lens_top1_parts
    slices: list[int] = []  # the state version of each slice computed

    def slices_then_edit(resid: Any) -> Generator[None, None, Any]:
        parts = computed(resid)
        while True:
            try:
                next(parts)
            except StopIteration as end:
                return end.value
            slices.append(session.version)
            if len(slices) == 1:  # an edit lands while the first run's lens is under way
                session.prompt = "another one"
            yield

    monkeypatch.setattr(session._adapter, "lens_top1_parts", slices_then_edit)
    sent: list[dict[str, Any]] = []

    async def scenario() -> None:
        client = dispatch.Dispatcher(session).connect()
        while not (sent and sent[-1]["op"] == "tool_result"):
            sent.append(json.loads(await client.queue.get()))

    asyncio.run(asyncio.wait_for(scenario(), 30))
    runs = [m["version"] for m in sent if m["op"] == "run_summary"]
    lenses = [m["version"] for m in sent if m["op"] == "tool_result"]
    assert len(runs) == 2 and lenses == [runs[1]]  # the first run's lens stopped after a slice
    assert slices == [runs[0]] + [runs[1]] * 5  # the stale lens gave way after its 1st slice
    assert [m["op"] for m in sent if m["version"] == runs[1]][-2:] == ["run_summary", "tool_result"]
