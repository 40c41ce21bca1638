"""A real IPython kernel (jupyter_client) with a tiny model attached, for app and proxy tests."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jupyter_client.blocking.client import BlockingKernelClient
from jupyter_client.manager import KernelManager

from tests.conftest import REPO

ATTACH_TINY = """
import tempfile, torch, transpector
from pathlib import Path
from tests.conftest import boot_tiny
torch.set_num_threads(1)
model = boot_tiny(Path(tempfile.mkdtemp()))
session = transpector.attach(model)
"""


@dataclass
class LiveKernel:
    manager: KernelManager
    client: Any

    @property
    def kernel_id(self) -> str:
        return Path(self.manager.connection_file).stem.removeprefix("kernel-")

    def execute(self, code: str, timeout: float = 120) -> str:
        """Run a cell; its stdout, or AssertionError with the traceback."""
        return run_cell(self.client, code, timeout)

    def sidecar(self) -> dict[str, Any]:
        path = Path(self.manager.connection_file).parent / f"transpector-{self.kernel_id}.json"
        return dict(json.loads(path.read_text()), path=str(path))


class CellOutput:
    """An ``output_hook`` for ``execute_interactive`` that keeps a cell's stdout and errors."""

    def __init__(self) -> None:
        self.out: list[str] = []
        self.errors: list[str] = []

    def __call__(self, msg: dict[str, Any]) -> None:
        content = msg["content"]
        if msg["msg_type"] == "stream" and content["name"] == "stdout":
            self.out.append(content["text"])
        elif msg["msg_type"] == "error":
            self.errors.append("\n".join(content["traceback"]))

    def stdout(self, reply: dict[str, Any]) -> str:
        """The cell's stdout, or AssertionError with its traceback."""
        assert reply["content"]["status"] == "ok", "\n".join(self.errors)
        return "".join(self.out)


def run_cell(client: Any, code: str, timeout: float = 120) -> str:
    """Run a cell through a jupyter_client client; its stdout, or AssertionError with the
    traceback."""
    output = CellOutput()
    return output.stdout(client.execute_interactive(code, timeout=timeout, output_hook=output))


def kernel_client(connection_file: Path) -> BlockingKernelClient:
    """A ready client of a kernel someone else started (a Jupyter server's)."""
    client = BlockingKernelClient(connection_file=str(connection_file))
    client.load_connection_file()
    client.start_channels()
    client.wait_for_ready(timeout=60)
    return client


@contextmanager
def live_kernel(runtime_dir: Path | None = None) -> Iterator[LiveKernel]:
    manager = KernelManager(kernel_name="python3")
    if runtime_dir is not None:
        manager.connection_file = str(runtime_dir / f"kernel-{os.urandom(4).hex()}.json")
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(REPO))
    manager.start_kernel(cwd=str(REPO), env=env)
    client = manager.client()
    client.start_channels()
    client.wait_for_ready(timeout=60)
    try:
        yield LiveKernel(manager, client)
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)
