"""A real `transpector lab` process and a real Debian chromium driven by Playwright."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from tests.browser import journeys
from tests.tiny_models import tiny_llama_dir

CHROMIUM = Path(os.environ.get("TRANSPECTOR_CHROMIUM", "/usr/bin/chromium"))
ARTIFACTS = Path(__file__).parent / "artifacts"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@dataclass
class Lab:
    url: str
    base: str
    token: str
    log: list[str]

    def wait_for_idle_kernel(self, timeout: float = 60) -> str:
        """The id of the notebook's kernel once the server reports it idle."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            kernels = [s["kernel"] for s in self.api("api/sessions") if s.get("kernel")]
            if kernels and kernels[0]["execution_state"] == "idle":
                return str(kernels[0]["id"])
            time.sleep(0.25)
        raise AssertionError(f"no idle kernel after {timeout} s: {self.api('api/sessions')}")

    def api(self, path: str) -> Any:
        request = urllib.request.Request(
            f"{self.base}{path}", headers={"Authorization": f"token {self.token}"}
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.load(response)


def write_notebook(path: Path, source: str) -> None:
    """A one-cell Python 3 notebook (its kernel chosen: no kernel dialog) at ``path``."""
    cell = {"cell_type": "code", "metadata": {}, "source": source, "outputs": [],
            "execution_count": None}  # fmt: skip
    kernel = {"name": "python3", "display_name": "Python 3", "language": "python"}
    notebook = {"cells": [cell], "metadata": {"kernelspec": kernel}, "nbformat": 4,
                "nbformat_minor": 5}  # fmt: skip
    path.write_text(json.dumps(notebook))


def start_lab(args: list[str], home: Path) -> Iterator[Lab]:
    """`transpector lab --no-browser ARGS` with its own settings and workspaces folders (the
    theme switch below must not touch the user's settings)."""
    env = os.environ | {
        "JUPYTERLAB_SETTINGS_DIR": str(home / "settings"),
        "JUPYTERLAB_WORKSPACES_DIR": str(home / "workspaces"),
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "transpector.cli", "lab", "--no-browser", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    log: list[str] = []
    ready = threading.Event()
    found: dict[str, str] = {}

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            log.append(line)
            match = re.search(r"Transpector is ready: (\S+)", line)
            if match:
                found["url"] = match.group(1)
                ready.set()

    threading.Thread(target=read, daemon=True).start()
    try:
        if not ready.wait(300):
            pytest.fail("transpector lab did not become ready:\n" + "".join(log[-30:]))
        url = found["url"]
        yield Lab(url=url, base=url.split("/lab/")[0] + "/", token=url.split("token=")[1], log=log)
    finally:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """`transpector lab` on the default model, exactly as a user starts it."""
    folder = tmp_path_factory.mktemp("notebooks")
    yield from start_lab(["--notebook-dir", str(folder)], tmp_path_factory.mktemp("home"))


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.fail(
            f"chromium not found at {CHROMIUM}: run `make test` (it installs it) or "
            "`apt-get install chromium`"
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield instance
        instance.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    if report.when == "call":
        item.stash[FAILED] = report.failed
    return report


FAILED = pytest.StashKey[bool]()


@pytest.fixture
def page(browser: Any, request: pytest.FixtureRequest) -> Iterator[Any]:
    """A fresh browser tab; on failure its screenshot lands in artifacts/ for a look."""
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    tab = context.new_page()
    yield tab
    if request.node.stash.get(FAILED, False):
        screenshot(tab, f"FAILED-{request.node.name}")
    context.close()


def screenshot(page: Any, name: str) -> Path:
    """Save a PNG of the page (or of one element: pass a locator) under artifacts/."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path))
    if name in journeys.PICTURES:  # a README journey's picture: kept current by this run
        journeys.FOLDER.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, journeys.FOLDER / path.name)
    return path


@pytest.fixture(autouse=True)
def jp_asyncio_loop() -> None:
    """Playwright's sync API runs a loop of its own; pytest-jupyter's must not run under it."""
    return None


@pytest.fixture(autouse=True)
def jp_server_cleanup() -> None:
    """These tests start their own Jupyter server process; there is no in-process one."""
    return None


def palette(page: Page, label: str) -> None:
    """Run a command from the palette. While JupyterLab settles (restoring its layout, focusing
    the notebook) the palette may ignore the shortcut or close again: try until it takes."""
    search = page.locator(".lm-CommandPalette-input")
    for _ in range(15):
        try:
            if not search.is_visible():
                page.keyboard.press("Control+Shift+C")
            search.wait_for(state="visible", timeout=2_000)
            search.fill(label, timeout=2_000)
            item = page.locator(".lm-CommandPalette-item.lm-mod-active", has_text=label)
            item.wait_for(timeout=2_000)
            search.press("Enter", timeout=2_000)
            return
        except PlaywrightTimeout:
            page.locator(".jp-NotebookPanel").first.click(position={"x": 5, "y": 5})
    raise AssertionError(f"could not run {label!r} from the command palette")


# ---- the canvas tests' tiny-model lab (one per test module) ----
@pytest.fixture(scope="module")
def tiny_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    model = tiny_llama_dir(tmp_path_factory.mktemp("tiny-model"))
    folder = tmp_path_factory.mktemp("tiny-notebooks")
    home = tmp_path_factory.mktemp("tiny-home")
    yield from start_lab(["--model", str(model), "--notebook-dir", str(folder)], home)


@pytest.fixture(autouse=True)
def console_log(page: Page) -> None:
    """The browser's console in the captured output, shown when a test fails."""
    page.on("console", lambda m: print(f"console.{m.type}: {m.text}"))
    page.on("pageerror", lambda e: print(f"pageerror: {e}"))
