"""The sidecar file the Jupyter server reads to reach a kernel's app: written beside the kernel's
connection file as ``transpector-<kernel_id>.json``, mode 0600 (address, token, pid)."""

from __future__ import annotations

import atexit
import json
import os
import re
from pathlib import Path

from transpector.protocol.messages import PROTOCOL_VERSION


def kernel_connection_file() -> Path | None:
    """The running kernel's connection file, or None outside a Jupyter kernel."""
    try:
        from ipykernel.connect import get_connection_file

        return Path(get_connection_file())
    except Exception:  # not in a kernel (no IPKernelApp instance)
        return None


def kernel_id_of(connection_file: Path) -> str:
    match = re.fullmatch(r"kernel-(.+)\.json", connection_file.name)
    return match.group(1) if match else connection_file.stem


def sidecar_path(runtime_dir: Path, kernel_id: str) -> Path:
    return runtime_dir / f"transpector-{kernel_id}.json"


def write_sidecar(connection_file: Path, url: str, token: str) -> Path:
    kernel_id = kernel_id_of(connection_file)
    path = sidecar_path(connection_file.parent, kernel_id)
    body = {
        "url": url,
        "token": token,
        "pid": os.getpid(),
        "kernel_id": kernel_id,
        "protocol_version": PROTOCOL_VERSION,
    }
    partial = path.with_name(path.name + ".tmp")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(body, f)
    partial.replace(path)
    atexit.register(lambda: path.unlink(missing_ok=True))
    return path
