"""Cells that report back: run code in a test kernel and read what it printed."""

from __future__ import annotations

import json
from typing import Any

from tests.server.conftest import Kernel


async def cell_output(kernel: Kernel, code: str, timeout: float = 120) -> str:
    """Run ``code`` in the kernel; its stdout, or AssertionError with the traceback."""
    out: list[str] = []
    errors: list[str] = []

    def on_output(msg: dict[str, Any]) -> None:
        content = msg["content"]
        if msg["msg_type"] == "stream" and content["name"] == "stdout":
            out.append(content["text"])
        elif msg["msg_type"] == "error":
            errors.append("\n".join(content["traceback"]))

    reply = await kernel.client.execute_interactive(code, timeout=timeout, output_hook=on_output)
    assert reply["content"]["status"] == "ok", "\n".join(errors)
    return "".join(out)


async def cell_json(kernel: Kernel, code: str, timeout: float = 120) -> Any:
    """The JSON the cell printed last."""
    lines = (await cell_output(kernel, code, timeout)).strip().splitlines()
    return json.loads(lines[-1])
