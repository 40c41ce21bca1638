"""GET /transpector/info through a real Jupyter server, with and without the login."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import transpector


async def test_info_lists_version_and_a_running_kernel(jp_fetch) -> None:  # type: ignore[no-untyped-def]
    started = await jp_fetch("api", "kernels", method="POST", body=json.dumps({"name": "python3"}))
    kernel_id = json.loads(started.body)["id"]
    try:
        response = await jp_fetch("transpector", "info")
        info = json.loads(response.body)
        assert info["version"] == transpector.__version__
        assert kernel_id in [k["id"] for k in info["kernels"]]
        assert all(k["execution_state"] for k in info["kernels"])
    finally:
        await jp_fetch("api", "kernels", kernel_id, method="DELETE")


async def test_info_without_jupyter_login_is_forbidden(http_server_client, jp_base_url) -> None:  # type: ignore[no-untyped-def]
    response = await http_server_client.fetch(f"{jp_base_url}transpector/info", raise_error=False)
    assert response.code == 403


def test_the_server_side_never_imports_torch() -> None:
    """The Jupyter server imports transpector and its extension; torch must stay out."""
    script = (
        "import sys, transpector, transpector.server, transpector.cli, transpector.starter\n"
        "transpector._jupyter_server_extension_points()\n"
        "print('torch' in sys.modules, 'transformers' in sys.modules)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=dict(os.environ)
    )
    assert done.stdout.split() == ["False", "False"], done.stderr
