"""Cells that report back: run code in a test kernel and read what it printed."""

from __future__ import annotations

import json
from typing import Any

from tests.live_kernel import CellOutput
from tests.server.conftest import Kernel


async def cell_output(kernel: Kernel, code: str, timeout: float = 120) -> str:
    """Run ``code`` in the kernel; its stdout, or AssertionError with the traceback."""
    output = CellOutput()
    reply = await kernel.client.execute_interactive(code, timeout=timeout, output_hook=output)
    return output.stdout(reply)


async def cell_json(kernel: Kernel, code: str, timeout: float = 120) -> Any:
    """The JSON the cell printed last."""
    lines = (await cell_output(kernel, code, timeout)).strip().splitlines()
    return json.loads(lines[-1])
