"""A small well-formed CUDA memory snapshot, in the shape ``torch.cuda.memory._snapshot()``
returns (see its docstring): one 2 MiB segment on device 0 holding a live 1 MiB block, and a
recorded history of six events with an out-of-memory one."""

from __future__ import annotations

from typing import Any

MIB = 1 << 20
BASE = 0x7F0000000000
FRAME = {"filename": "/work/model.py", "line": 12, "name": "forward"}


def example_snapshot() -> dict[str, Any]:
    live = {"size": MIB, "requested_size": MIB, "address": BASE, "state": "active_allocated",
            "frames": [FRAME]}  # fmt: skip
    free = {"size": MIB, "requested_size": 0, "address": BASE + MIB, "state": "inactive",
            "frames": []}  # fmt: skip
    segment = {"device": 0, "address": BASE, "total_size": 2 * MIB, "stream": 0,
               "segment_type": "large", "segment_pool_id": (0, 0), "allocated_size": MIB,
               "active_size": MIB, "blocks": [live, free]}  # fmt: skip

    def event(action: str, addr: int, size: int) -> dict[str, Any]:
        return {"action": action, "addr": addr, "size": size, "stream": 0, "frames": [FRAME]}

    trace = [
        event("segment_alloc", BASE, 2 * MIB),
        event("alloc", BASE, MIB),
        event("alloc", BASE + MIB, MIB // 2),
        event("free_requested", BASE + MIB, MIB // 2),
        event("free_completed", BASE + MIB, MIB // 2),
        {"action": "oom", "size": 8 * MIB, "device_free": MIB, "stream": 0, "frames": []},
    ]
    return {"segments": [segment], "device_traces": [trace]}
