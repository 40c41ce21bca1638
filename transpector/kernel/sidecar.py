"""The sidecar file the Jupyter server reads to reach a kernel's app: written beside the kernel's
connection file as ``transpector-<kernel_id>.json``, mode 0600 (see protocol/sidecar.py)."""

from __future__ import annotations

import atexit
import os
from pathlib import Path

from transpector.protocol.messages import PROTOCOL_VERSION
from transpector.protocol.sidecar import Sidecar, kernel_id_of, sidecar_name


def kernel_connection_file() -> Path | None:
    """The running kernel's connection file, or None outside a Jupyter kernel."""
    try:
        from ipykernel.connect import get_connection_file

        return Path(get_connection_file())
    except Exception:  # not in a kernel (no IPKernelApp instance)
        return None


def write_sidecar(connection_file: Path, url: str, token: str, model_name: str) -> Path:
    kernel_id = kernel_id_of(connection_file.name, connection_file.stem)
    path = connection_file.parent / sidecar_name(kernel_id)
    body = Sidecar(
        url=url,
        token=token,
        pid=os.getpid(),
        kernel_id=kernel_id,
        protocol_version=PROTOCOL_VERSION,
        model_name=model_name,
    )
    _write(path, body)
    atexit.register(lambda: path.unlink(missing_ok=True))
    return path


def rename_model(path: Path, model_name: str) -> None:
    """Say in the sidecar that the app now serves ``model_name`` (attach with another model)."""
    body = Sidecar.model_validate_json(path.read_bytes())
    _write(path, body.model_copy(update={"model_name": model_name}))


def _write(path: Path, body: Sidecar) -> None:
    """Replace the file at once (a reader never sees half of it), readable by its owner only."""
    partial = path.with_name(path.name + ".tmp")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(body.model_dump_json())
    partial.replace(path)
