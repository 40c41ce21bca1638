"""How the Jupyter server finds a kernel's app: the sidecar file and the token header.

``transpector.attach`` writes ``transpector-<kernel_id>.json`` (mode 0600) beside the kernel's
connection file ``kernel-<kernel_id>.json``; the server extension reads it and sends the token in
``TOKEN_HEADER`` on every request it forwards. Both sides use this module.
"""

from __future__ import annotations

import re

from pydantic import BaseModel, Field

TOKEN_HEADER = "X-Transpector-Token"
_CONNECTION_FILE = re.compile(r"kernel-(.+)\.json")


class Sidecar(BaseModel):
    url: str = Field(description="The app's address, http://127.0.0.1:<port>")
    token: str = Field(min_length=1, description="The per-kernel secret, sent in TOKEN_HEADER")
    pid: int | None = Field(default=None, description="The kernel's process id")
    kernel_id: str = ""
    protocol_version: int | None = None
    model_name: str | None = Field(
        default=None, description="The attached model's name, as the side panel lists it"
    )


def kernel_id_of(connection_file_name: str, fallback: str) -> str:
    """The kernel id in a connection file's name ``kernel-<id>.json``, else ``fallback``."""
    match = _CONNECTION_FILE.fullmatch(connection_file_name)
    return match.group(1) if match else fallback


def sidecar_name(kernel_id: str) -> str:
    return f"transpector-{kernel_id}.json"
