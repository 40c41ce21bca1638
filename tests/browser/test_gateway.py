"""A kernel behind a gateway: JupyterLab started with `--gateway-url` pointing at a real
jupyter-kernel-gateway on loopback, so the Jupyter server has no local connection file for the
kernel and cannot reach its app (the proxy answers `unreachable`). The canvas then talks to the
same app over the kernel's own comm channel: prompt, ablation, and a cell's change on the
canvas, in a real browser."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from tests.browser.canvas_helpers import (
    CANVAS,
    cell_json,
    open_canvas,
    rendered_head,
    run_new_cell,
    tokens,
    type_prompt,
    wait_until,
)
from tests.browser.conftest import Lab, screenshot, write_notebook
from tests.helpers import free_port
from tests.tiny_models import tiny_llama_dir
from transpector.cli import LAB_CONFIG, _server_config

pytestmark = [pytest.mark.browser]
CELL = """import transpector
model = transpector.load_model(MODEL)
session = transpector.attach(model)
print("attached", session.graph.model_name)"""


def _serve(command: list[str], env: dict[str, str], url: str) -> subprocess.Popen[bytes]:
    quiet = subprocess.DEVNULL
    process = subprocess.Popen(command, env=env, stdout=quiet, stderr=quiet)

    def answers() -> bool:
        try:
            urllib.request.urlopen(url, timeout=2).close()
        except urllib.error.HTTPError:
            return True  # up, and refusing us: enough
        except OSError:
            return False
        return True

    wait_until(answers, 120, f"{command[2]} to answer")
    return process


@pytest.fixture(scope="module")
def gateway_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    model = tiny_llama_dir(tmp_path_factory.mktemp("tiny-model"))
    folder = tmp_path_factory.mktemp("gateway-notebooks")
    home = tmp_path_factory.mktemp("gateway-home")
    # The gateway starts kernels with its own environment: the model's folder goes in the cell.
    source = CELL.replace("MODEL", repr(str(model)))
    write_notebook(folder / "gateway.ipynb", source)
    base_env = os.environ | {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    gateway_token, gateway_port = secrets.token_urlsafe(16), free_port()
    gateway = _serve(
        [sys.executable, "-m", "kernel_gateway", "--KernelGatewayApp.ip=127.0.0.1",
         f"--KernelGatewayApp.port={gateway_port}",
         "--JupyterWebsocketPersonality.list_kernels=True"],
        base_env | {"KG_AUTH_TOKEN": gateway_token},
        f"http://127.0.0.1:{gateway_port}/api",
    )  # fmt: skip
    token, port = secrets.token_urlsafe(16), free_port()
    lab_env = base_env | {
        "JUPYTER_TOKEN": token,
        "JUPYTER_CONFIG_PATH": str(LAB_CONFIG),
        "JUPYTERLAB_SETTINGS_DIR": str(home / "settings"),
        "JUPYTERLAB_WORKSPACES_DIR": str(home / "workspaces"),
    }
    lab = _serve(
        [sys.executable, "-m", "jupyterlab", f"--config={_server_config()}", f"--port={port}",
         f"--ServerApp.root_dir={folder}", "--no-browser", "--allow-root",
         f"--gateway-url=http://127.0.0.1:{gateway_port}",
         f"--GatewayClient.auth_token={gateway_token}"],
        lab_env,
        f"http://127.0.0.1:{port}/api/status",
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}/"
    try:
        yield Lab(url=f"{base}lab/tree/gateway.ipynb?token={token}", base=base, token=token, log=[])
    finally:
        for process in (lab, gateway):
            process.terminate()
            process.wait(30)


def run_through_the_gateway(page: Page) -> None:
    """Run the notebook's cell once JupyterLab's kernel connection is up. Through a gateway its
    first websocket asks for a subprotocol the gateway relay does not offer, and JupyterLab
    connects again without it; a run sent meanwhile can be lost, so it is sent again."""
    page.locator(".jp-StatusBar-TextItem", has_text="| Idle").wait_for(timeout=60_000)
    attached = page.locator(".jp-OutputArea-output", has_text="attached")
    for _ in range(3):
        page.locator(".jp-NotebookPanel .jp-Cell").first.locator(".jp-InputArea-editor").click()
        page.keyboard.press("Control+Enter")
        try:
            attached.wait_for(timeout=40_000)
            return
        except PlaywrightTimeout:
            print("the cell did not run through the gateway within 40 s, running it again")
    attached.wait_for(timeout=40_000)


def proxy_answer(lab: Lab, kernel_id: str) -> tuple[int, dict[str, str]]:
    try:
        lab.api(f"transpector/kernels/{kernel_id}/api/graph")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())
    return 200, {}


def test_the_canvas_over_the_kernel_s_comm_behind_a_gateway(gateway_lab: Lab, page: Page) -> None:
    page.goto(gateway_lab.url)
    page.locator(".jp-NotebookPanel").wait_for(timeout=60_000)
    kernel_id = gateway_lab.wait_for_idle_kernel(timeout=120)
    run_through_the_gateway(page)
    status, body = proxy_answer(gateway_lab, kernel_id)
    assert status == 503 and body["code"] == "unreachable", body

    canvas = open_canvas(page)
    assert canvas.locator(".jp-Transpector-docs-link").count() == 0  # no REST docs over a comm
    type_prompt(page, "Hi there")
    wait_until(lambda: "".join(tokens(page)).endswith("Hi there"), 20, "the prompt's tokens")
    assert cell_json(page, "print(json.dumps(session.prompt))") == "Hi there"

    # A click on the canvas reaches the cell; a cell's change reaches the canvas.
    rendered_head(page, 0, 1).locator("button[aria-label^='Zero-ablate']").click()
    wait_until(
        lambda: (
            cell_json(page, "print(json.dumps([i.node for i in session.interventions]))")
            == ["L0.H1"]
        ),
        30,
        "the canvas's ablation in the session",
    )
    run_new_cell(page, 'session.ablate("L1.mlp")')
    intervention = page.locator(f"{CANVAS} .jp-Transpector-intervention[data-node-id='L1.mlp']")
    intervention.wait_for(timeout=20_000)
    wait_until(
        lambda: canvas.get_attribute("data-run-version") == canvas.get_attribute("data-version"),
        20,
        "the run of the latest state",
    )
    expected = cell_json(page, "print(json.dumps([t.prob for t in session.run().top_k[-1]]))")
    shown = page.locator(f"{CANVAS} .jp-Transpector-topk-item").evaluate_all(
        "els => els.map(e => Number(e.dataset.prob))"
    )
    assert shown == pytest.approx(expected[: len(shown)], abs=1e-6)
    screenshot(page, "canvas-over-gateway")
