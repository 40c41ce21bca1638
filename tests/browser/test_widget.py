"""The notebook widget in a real browser with every request off this machine refused: in
JupyterLab beside the canvas (the same version and numbers on both; a cell's change reaches the
widget, the widget's prompt edit reaches the cell) and its single views; in Notebook 7, the
widget live in the page."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Page

from tests.browser.canvas_helpers import (
    CANVAS,
    cell_json,
    open_canvas,
    run_new_cell,
    run_starter,
    wait_until,
)
from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS, Lab, screenshot, write_notebook
from tests.helpers import free_port
from tests.tiny_models import tiny_llama_dir
from transpector.cli import LAB_CONFIG

pytestmark = [pytest.mark.browser]
WIDGET = ".jp-Transpector-widget"
LOCAL = ("http://127.0.0.1", "ws://127.0.0.1", "data:", "blob:")


@pytest.fixture(scope="module")
def offline_browser(browser: Any) -> Iterator[Any]:
    """Chromium that can reach 127.0.0.1 and nothing else: every other request goes to a proxy
    that is not there (127.0.0.1 bypasses it), so it fails."""
    args = [*CHROMIUM_ARGS, "--proxy-server=127.0.0.1:9", "--proxy-bypass-list=127.0.0.1;localhost"]
    instance = browser.browser_type.launch(executable_path=str(CHROMIUM), args=args)
    yield instance
    instance.close()


@pytest.fixture
def offline_page(offline_browser: Any) -> Iterator[tuple[Page, list[str]]]:
    """A tab of the offline browser, and the requests that left 127.0.0.1 (none should)."""
    context = offline_browser.new_context(viewport={"width": 1440, "height": 900})
    tab = context.new_page()
    outside: list[str] = []
    tab.on(
        "request",
        lambda r: None if r.url.startswith(LOCAL) else outside.append(r.url),
    )
    tab.on("console", lambda m: print(f"console.{m.type}: {m.text}"))
    yield tab, outside
    context.close()


def probs(scope: Any) -> list[float]:
    return [
        float(p)
        for p in scope.locator(".jp-Transpector-topk-item").evaluate_all(
            "els => els.map(e => e.dataset.prob)"
        )
    ]


def test_the_widget_beside_the_canvas_in_jupyterlab(
    tiny_lab: Lab, offline_page: tuple[Page, list[str]]
) -> None:
    page, outside = offline_page
    run_starter(tiny_lab, page, timeout=120_000)
    canvas = open_canvas(page)
    run_new_cell(page, "session.widget()")
    widget = page.locator(f"{WIDGET}[data-view='canvas'][data-connection='live']")
    widget.wait_for(timeout=30_000)
    widget.locator(".jp-Transpector-topk-item").first.wait_for(timeout=30_000)

    # A cell's change reaches both; they show the same version and numbers.
    run_new_cell(page, 'session.ablate("L1.mlp")')
    widget.locator(".jp-Transpector-intervention[data-node-id='L1.mlp']").wait_for(timeout=15_000)
    version = cell_json(page, "print(json.dumps(session.version))")
    for view in (widget, canvas):
        wait_until(lambda v=view: v.get_attribute("data-run-version") == str(version), 20, "runs")
    assert widget.get_attribute("data-version") == canvas.get_attribute("data-version")
    assert probs(widget) == pytest.approx(probs(canvas), abs=1e-9) and len(probs(widget)) >= 5
    expected = cell_json(page, "print(json.dumps([t.prob for t in session.run().top_k[-1]]))")
    assert probs(widget) == pytest.approx(expected[: len(probs(widget))], abs=1e-6)
    widget.scroll_into_view_if_needed()
    screenshot(widget, "widget-jupyterlab")

    # The widget's prompt box changes the session (and so the canvas).
    box = widget.locator(".jp-Transpector-prompt")
    box.fill("one two three")
    wait_until(
        lambda: page.locator(f"{CANVAS} .jp-Transpector-prompt").input_value() == "one two three",
        15,
        "the canvas follows the widget",
    )
    assert cell_json(page, "print(json.dumps(session.prompt))") == "one two three"

    # Single views: a head's attention pattern, and the logit lens.
    run_new_cell(page, 'session.show("attention", node="L0.H1")')
    attention = page.locator(f"{WIDGET}[data-view='attention']")
    attention.locator("[data-pattern-shape]").wait_for(timeout=20_000)
    run_new_cell(page, 'session.show("lens")')
    page.locator(f"{WIDGET}[data-view='lens'] .jp-Transpector-lens").wait_for(timeout=20_000)
    wrong = run_new_cell(page, 'session.show("attention")')
    wrong.filter(has_text="the attention view needs node=").wait_for(timeout=20_000)
    assert outside == []


NOTEBOOK_CELL = """import transpector
model = transpector.load_model()
session = transpector.attach(model)
session.widget()"""


@pytest.fixture(scope="module")
def notebook7(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """Jupyter Notebook 7 (the `notebook` package) on loopback, on the tiny model, with one
    notebook whose cell shows the widget."""
    model = tiny_llama_dir(tmp_path_factory.mktemp("tiny-model"))
    folder = tmp_path_factory.mktemp("notebook7")
    write_notebook(folder / "widget.ipynb", NOTEBOOK_CELL)
    token, port = secrets.token_urlsafe(16), free_port()
    env = os.environ | {
        "TRANSPECTOR_MODEL": str(model), "HF_HUB_OFFLINE": "1", "JUPYTER_TOKEN": token,
        "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
        "JUPYTER_CONFIG_PATH": str(LAB_CONFIG),
    }  # fmt: skip
    command = [sys.executable, "-m", "notebook", "--no-browser", f"--port={port}",
               f"--ServerApp.root_dir={folder}", "--allow-root"]  # fmt: skip
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT
    )
    base = f"http://127.0.0.1:{port}/"
    server = Lab(url=f"{base}notebooks/widget.ipynb?token={token}", base=base, token=token, log=[])
    try:
        wait_until(lambda: _answers(server), 120, "Notebook 7 to start")
        yield server
    finally:
        process.terminate()
        process.wait(30)


def _answers(server: Lab) -> bool:
    try:
        server.api("api/status")
    except OSError:
        return False
    return True


def test_the_widget_in_notebook_7(notebook7: Lab, offline_page: tuple[Page, list[str]]) -> None:
    page, outside = offline_page
    page.goto(notebook7.url)
    page.locator(".jp-NotebookPanel .jp-Cell").first.wait_for(timeout=60_000)
    notebook7.wait_for_idle_kernel()
    page.locator(".jp-NotebookPanel .jp-Cell").first.locator(".jp-InputArea-editor").click()
    page.keyboard.press("Shift+Enter")
    widget = page.locator(f"{WIDGET}[data-view='canvas'][data-connection='live']")
    widget.wait_for(timeout=120_000)
    widget.locator(".jp-Transpector-topk-item").first.wait_for(timeout=30_000)
    notebook7.wait_for_idle_kernel(timeout=120)

    expected = cell_json(page, "print(json.dumps([t.prob for t in session.run().top_k[-1]]))")
    assert probs(widget) == pytest.approx(expected[: len(probs(widget))], abs=1e-6)
    run_new_cell(page, 'session.ablate("L0.H2")')
    widget.locator(".jp-Transpector-intervention[data-node-id='L0.H2']").wait_for(timeout=15_000)
    widget.locator(".jp-Transpector-intervention[data-node-id='L0.H2']").get_by_role(
        "button", name="Remove"
    ).click()
    wait_until(
        lambda: cell_json(page, "print(json.dumps(len(session.interventions)))") == 0,
        30,
        "the widget's Remove reaches the session",
    )
    widget.scroll_into_view_if_needed()
    screenshot(widget, "widget-notebook7")

    # The canvas itself needs JupyterLab: the toolbar button says so, and what works here.
    page.locator(".jp-NotebookPanel-toolbar [data-jp-item-name='transpector'] button").click()
    dialog = page.locator(".jp-Dialog", has_text="Transpector needs JupyterLab for its canvas")
    dialog.wait_for(timeout=10_000)
    assert "session.widget()" in dialog.inner_text()
    dialog.get_by_role("button", name="Ok").click()
    assert outside == []


def test_circuitsvis_offline_in_jupyterlab(
    tiny_lab: Lab, offline_page: tuple[Page, list[str]]
) -> None:
    page, outside = offline_page
    run_starter(tiny_lab, page, timeout=120_000)
    run_new_cell(page, "session.circuitsvis_attention(0)")
    view = page.locator(".jp-OutputArea-output [id^='circuits-vis-']")
    view.wait_for(timeout=30_000)
    wait_until(lambda: view.evaluate("e => e.childElementCount") > 0, 30, "CircuitsVis draws")
    view.locator("text=L0.H3").first.wait_for(timeout=10_000)
    view.scroll_into_view_if_needed()
    screenshot(view, "circuitsvis-offline")
    assert outside == []
