"""The dispatcher's runs: outputs first, the lens after in parts, and a newer edit never waits
for a stale lens."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from transpector.kernel import dispatch
from transpector.kernel.session import Session
from transpector.kernel.tools import lens


def test_an_edit_during_the_lens_drops_it_and_runs_at_once(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(lens, "CELLS_PER_PART", 1)  # a layer row a part: the lens yields
    computed = session._adapter.lens_top1
    parts: list[int] = []

    def part_then_edit(resid: Any) -> Any:
        parts.append(session.version)
        if len(parts) == 1:  # an edit lands while the first run's lens is under way
            session.prompt = "another one"
        return computed(resid)

    monkeypatch.setattr(session._adapter, "lens_top1", part_then_edit)
    sent: list[dict[str, Any]] = []

    async def scenario() -> None:
        client = dispatch.Dispatcher(session).connect()
        while not (sent and sent[-1]["op"] == "tool_result"):
            sent.append(json.loads(await client.queue.get()))

    asyncio.run(asyncio.wait_for(scenario(), 30))
    runs = [m["version"] for m in sent if m["op"] == "run_summary"]
    lenses = [m["version"] for m in sent if m["op"] == "tool_result"]
    assert len(runs) == 2 and lenses == [runs[1]]  # the first run's lens stopped after a part
    assert parts.count(runs[0]) == 1 and parts.count(runs[1]) == 3  # rows L0, L1, final
    assert [m["op"] for m in sent if m["version"] == runs[1]][-2:] == ["run_summary", "tool_result"]
