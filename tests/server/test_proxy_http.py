"""REST through the authenticated proxy to a real kernel's app: round trips, the API docs, the
session list, and what the proxy forwards and strips."""

from __future__ import annotations

import json
import os
from typing import Any

from tornado import web
from tornado.httpserver import HTTPServer
from tornado.testing import bind_unused_port

from tests.server.conftest import BASE_URL, JSON, KERNEL_STATES, Kernel, api, direct


async def test_rest_round_trip_through_the_proxy(jp_fetch: Any, kernel: Kernel) -> None:
    graph = await jp_fetch(*api(kernel.id, "graph"))
    assert json.loads(graph.body)["n_layers"] == 2
    assert graph.headers["X-Transpector-Kernel-State"] in KERNEL_STATES

    op = {"op": "set_prompt", "prompt": "through the proxy", "request_id": "r1"}
    changed = await jp_fetch(
        *api(kernel.id, "ops"),
        method="POST",
        body=json.dumps(op),
        headers=dict(JSON),
    )
    assert changed.code == 200 and changed.headers["Content-Type"] == "application/json"
    state = json.loads((await jp_fetch(*api(kernel.id, "state"))).body)["state"]
    assert state["prompts"][state["active"]] == "through the proxy"

    run = await jp_fetch(*api(kernel.id, "run"), method="POST", body="{}", headers=dict(JSON))
    assert json.loads(run.body)["prompt"] == "through the proxy"
    proxied = await jp_fetch(*api(kernel.id, "nodes", "L1.H2", "data"), params={"dtype": "float16"})
    own = await direct(kernel, "/api/nodes/L1.H2/data?dtype=float16", kernel.sidecar()["token"])
    assert own.code == 200 and len(own.body) > 8
    assert proxied.body == own.body
    assert proxied.headers["Content-Type"] == own.headers["Content-Type"]
    assert proxied.headers["Content-Type"] == "application/octet-stream"


async def test_the_api_docs_page_loads_its_scripts_through_the_proxy(
    jp_fetch: Any, kernel: Kernel
) -> None:
    page = await jp_fetch(*api(kernel.id, "docs"))
    assert b"docs-assets/swagger-ui-bundle.js" in page.body
    assert "default-src 'none'" not in page.headers["Content-Security-Policy"]
    script = await jp_fetch(*api(kernel.id, "docs-assets", "swagger-ui-bundle.js"))
    assert script.code == 200 and len(script.body) > 100_000
    spec = json.loads((await jp_fetch(*api(kernel.id, "openapi.json"))).body)
    assert "/api/ops" in spec["paths"]


async def test_sessions_lists_every_kernel_and_whether_it_is_attached(
    jp_fetch: Any, kernel: Kernel, bare_kernel: Kernel
) -> None:
    sessions = {
        s["kernel_id"]: s for s in json.loads((await jp_fetch("transpector", "sessions")).body)
    }
    assert sessions[kernel.id]["attached"] is True
    assert sessions[kernel.id]["protocol_version"] == kernel.sidecar()["protocol_version"]
    assert sessions[kernel.id]["name"] == "python3"
    assert sessions[kernel.id]["model_name"] == "native"  # the tiny model's cfg.model_name
    assert sessions[bare_kernel.id] == {
        "kernel_id": bare_kernel.id,
        "name": "python3",
        "execution_state": sessions[bare_kernel.id]["execution_state"],
        "attached": False,
        "protocol_version": None,
        "model_name": None,
    }
    assert sessions[bare_kernel.id]["execution_state"] in KERNEL_STATES


async def test_sessions_name_the_model_attached_last(jp_fetch: Any, kernel: Kernel) -> None:
    async def model_name() -> str:
        listing = json.loads((await jp_fetch("transpector", "sessions")).body)
        return str(next(s for s in listing if s["kernel_id"] == kernel.id)["model_name"])

    assert await model_name() == "native"
    await kernel.execute(
        "other = boot_tiny(Path(tempfile.mkdtemp()))\n"
        "other.cfg.model_name = 'other-model'\n"
        "transpector.attach(other)"
    )
    assert await model_name() == "other-model"
    assert kernel.sidecar()["model_name"] == "other-model"


class Echo(web.RequestHandler):
    """Stands in for a kernel app: records what reaches it, answers odd status and bytes."""

    seen: list[dict[str, Any]] = []  # noqa: RUF012

    def prepare(self) -> None:
        request = self.request
        Echo.seen.append(
            {
                "method": request.method,
                "uri": request.uri,
                "headers": {k.lower(): v for k, v in request.headers.get_all()},
                "body": request.body,
            }
        )
        if request.path.endswith("/moved"):
            self.redirect(f"http://{request.host}/api/graph", status=307)
            return
        self.set_status(201)
        self.set_header("Content-Type", "application/x-test")
        self.finish(bytes(range(256)))


async def test_the_proxy_forwards_the_request_and_strips_jupyter_credentials(
    jp_fetch: Any, bare_kernel: Kernel
) -> None:
    echo_socket, echo_port = bind_unused_port()
    echo = HTTPServer(web.Application([(r"/.*", Echo)]))
    echo.add_sockets([echo_socket])
    sidecar = {"url": f"http://127.0.0.1:{echo_port}", "token": "s3cret", "pid": os.getpid()}
    bare_kernel.sidecar_path.write_text(json.dumps(sidecar))
    try:
        answer = await jp_fetch(
            *api(bare_kernel.id, "ops"),
            method="PATCH",
            params={"a": "1", "b": "x y"},
            body=b"\x00raw\xff",
            headers={
                "Content-Type": "application/x-raw",
                "Cookie": "username-x=secret; _xsrf=abc",
                "X-XSRFToken": "abc",
                "X-Transpector-Token": "forged",
                "Connection": "keep-alive, X-Hop",
                "X-Hop": "1",
                "X-Kept": "2",
            },
            raise_error=False,
        )
        moved = await jp_fetch(
            *api(bare_kernel.id, "moved"), raise_error=False, follow_redirects=False
        )
    finally:
        bare_kernel.sidecar_path.unlink()
        echo.stop()
    assert answer.code == 201 and answer.body == bytes(range(256))
    assert answer.headers["Content-Type"] == "application/x-test"
    assert answer.headers["X-Transpector-Kernel-State"] in KERNEL_STATES
    seen = Echo.seen[0]
    assert seen["method"] == "PATCH" and seen["uri"] == "/api/ops?a=1&b=x+y"
    assert seen["body"] == b"\x00raw\xff"
    assert seen["headers"]["content-type"] == "application/x-raw"
    assert seen["headers"]["x-transpector-token"] == "s3cret"
    assert seen["headers"]["x-kept"] == "2"
    for stripped in ("cookie", "authorization", "x-xsrftoken", "x-hop"):
        assert stripped not in seen["headers"], stripped
    assert "x-hop" not in seen["headers"].get("connection", "").lower()
    assert moved.code == 307
    assert moved.headers["Location"] == f"{BASE_URL}transpector/kernels/{bare_kernel.id}/api/graph"
