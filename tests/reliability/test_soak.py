"""Soak: a thousand runs through the proxy with interventions toggling, so that every run
computes; the kernel process's memory, file descriptors, hooks on the model and the source
activations' cache must not grow with them."""

from __future__ import annotations

import json
import time
from typing import Any

from tests.reliability.kernel_cells import cell_json
from tests.server.conftest import JSON, Kernel, api

RUNS = 1000
WARM_UP = 50
CACHE_BUDGET_MB = 0.0625  # 64 KiB: a few dozen source activations, so the cache must evict
# Three prompts and the patches' source prompts all of one token count (a byte tokenizer).
PROMPTS = ["The cat sat on the mat", "A dog ran in the park!", "My cup is on the table"]
ABLATION = {"kind": "ablate", "node": "L0.H1"}

# An awaiting cell first lets the loop close the last proxied connections (fds in flight).
MEASURE = """
import asyncio, gc, json, os, psutil
await asyncio.sleep(0.5)
gc.collect()
def _torch_hooks(module):
    return sum(
        len(m._forward_hooks) + len(m._forward_pre_hooks)
        + len(m._backward_hooks) + len(m._backward_pre_hooks)
        for m in module.modules()
    )
print(json.dumps({
    "rss": psutil.Process().memory_info().rss,
    "fds": len(os.listdir("/proc/self/fd")),
    "hooks": len(session.hooks()),
    "torch_hooks": _torch_hooks(model),
    "cache": session.caches[0].model_dump(),
}))
"""


def source_prompt(i: int) -> str:
    return f"source prompt {i:08d}"[: len(PROMPTS[0])].ljust(len(PROMPTS[0]), ".")


def patch(i: int) -> dict[str, Any]:
    return {
        "kind": "patch",
        "node": "L1.resid_pre",
        "source": "L1.resid_pre",
        "source_prompt": source_prompt(i),
    }


class Driver:
    """Changes the session's state through the proxy, as the canvas does, and runs it."""

    def __init__(self, fetch: Any, kernel: Kernel) -> None:
        self.fetch = fetch
        self.kernel = kernel
        self.ablation = ""  # the id of the ablation while it is on
        self.patch = ""
        self.version = -1  # the state's version after the last change
        self.top1: set[float] = set()

    async def op(self, **message: Any) -> dict[str, Any]:
        answer = await self.fetch(
            *api(self.kernel.id, "ops"), method="POST", body=json.dumps(message), headers=dict(JSON)
        )
        state: dict[str, Any] = json.loads(answer.body)
        assert state["op"] == "state", state
        self.version = state["version"]
        return state

    async def added(self, spec: dict[str, Any]) -> str:
        state = await self.op(op="add_intervention", intervention=spec)
        return str(state["state"]["interventions"][-1]["id"])

    async def step(self, i: int) -> None:
        """One change of prompt, one toggled ablation, every fifth step a toggled patch (with a
        new source prompt each time it goes on), then a run that must be of this very state."""
        await self.op(op="set_prompt", prompt=PROMPTS[i % len(PROMPTS)])
        if self.ablation:
            await self.op(op="remove_intervention", id=self.ablation)
            self.ablation = ""
        else:
            self.ablation = await self.added(ABLATION)
        if i % 5 == 0:
            if self.patch:
                await self.op(op="remove_intervention", id=self.patch)
                self.patch = ""
            else:
                self.patch = await self.added(patch(i))
        answer = await self.fetch(
            *api(self.kernel.id, "run"), method="POST", body="{}", headers=dict(JSON)
        )
        summary = json.loads(answer.body)
        assert summary["op"] == "run_summary", summary
        assert summary["prompt"] == PROMPTS[i % len(PROMPTS)]
        assert summary["version"] == self.version
        self.top1.add(summary["top_k"][-1][0]["prob"])


async def test_a_thousand_runs_with_interventions_leak_nothing(
    jp_fetch: Any, kernel: Kernel
) -> None:
    driver = Driver(jp_fetch, kernel)
    await kernel.execute(f"session.clear(); session.set_cache_budget({CACHE_BUDGET_MB})")
    try:
        for i in range(WARM_UP):
            await driver.step(i)
        before = await cell_json(kernel, MEASURE)
        started = time.monotonic()
        for i in range(WARM_UP, WARM_UP + RUNS):
            await driver.step(i)
        seconds = time.monotonic() - started
        after = await cell_json(kernel, MEASURE)
    finally:
        await kernel.execute("from transpector.kernel.interventions import ACTIVATION_CACHE_MB\n"
                             "session.set_cache_budget(ACTIVATION_CACHE_MB)")  # fmt: skip

    growth = (after["rss"] - before["rss"]) / before["rss"] * 100
    cache = after["cache"]
    print(
        f"\nsoak: {RUNS} runs in {seconds:.1f} s ({RUNS / seconds:.0f}/s); "
        f"RSS {before['rss'] / 2**20:.1f} -> {after['rss'] / 2**20:.1f} MiB ({growth:+.2f} %); "
        f"fds {before['fds']} -> {after['fds']}; hooks {before['hooks']} -> {after['hooks']} "
        f"(torch module hooks {before['torch_hooks']} -> {after['torch_hooks']}); "
        f"cache {cache['bytes']} / {cache['budget_bytes']} bytes, {cache['entries']} entries, "
        f"{cache['evictions']} evictions"
    )
    assert len(driver.top1) > 3, "the runs did not change with the interventions"
    assert growth < 5, f"RSS grew {growth:.1f} %"
    assert after["fds"] == before["fds"]
    assert (after["hooks"], after["torch_hooks"]) == (before["hooks"], before["torch_hooks"])
    assert cache["budget_bytes"] == int(CACHE_BUDGET_MB * 2**20)
    assert 0 < cache["bytes"] <= cache["budget_bytes"]
    assert cache["evictions"] > before["cache"]["evictions"], "the cache never had to evict"
