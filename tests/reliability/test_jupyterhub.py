"""Transpector on a real JupyterHub: one user's kernel app is out of every other user's reach,
and the owner's own journey works in a real browser through the hub's proxy.

The hub (the `jupyterhub` package) listens on loopback behind configurable-http-proxy (the npm
package, a devDependency: node_modules/.bin/configurable-http-proxy), with two users, alice and
bob, logging in with a shared test password (`SharedPasswordAuthenticator`, the hub's
replacement for `DummyAuthenticator.password`). `SimpleLocalProcessSpawner` starts each user's
single-user server from this project's .venv (`jupyterhub-singleuser`; the extension enables
itself) as the current Unix user with a home folder of its own: fine for a test, not a real
deployment, where each user has a Unix account or a container (see tests/reliability/hub.py).

Alice starts a kernel and attaches the tiny model through her server's REST API and kernel
channels, with a hub API token of hers. Bob, logged in on the hub (his cookies, his own
server's included) or with a hub API token of his own, is refused (403, or 404 where his own
server is asked) on every Transpector route of alice's and on her websocket handshake; alice's
token reaches them all, and her session's state is as she left it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from tests.browser.canvas_helpers import (
    CANVAS,
    open_canvas,
    rendered_head,
    run_all_cells,
    run_new_cell,
    tokens,
    top_k,
    type_prompt,
    wait_until,
)
from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS, screenshot
from tests.live_kernel import ATTACH_TINY
from tests.reliability.hub import PASSWORD, Hub, User, execute, running_hub, start_kernel


@pytest.fixture
def jp_asyncio_loop() -> None:
    """No pytest-jupyter loop here: the hub and the servers are processes of their own, and
    Playwright's sync API runs a loop of its own."""
    return None


@pytest.fixture
def jp_server_cleanup() -> None:
    return None


class Setup:
    """The running hub, both users logged in with their servers up, and alice's kernel with a
    tiny model attached."""

    def __init__(self, hub: Hub, alice: User, bob: User, kernel_id: str) -> None:
        self.hub, self.alice, self.bob, self.kernel_id = hub, alice, bob, kernel_id

    def routes(self, owner: str = "alice") -> list[tuple[str, str]]:
        """(method, path) of every Transpector REST route of ``owner``'s server, for alice's
        kernel."""
        kernel = f"user/{owner}/transpector/kernels/{self.kernel_id}/api"
        return [
            ("GET", f"user/{owner}/transpector/sessions"),
            ("GET", f"{kernel}/graph"),
            ("GET", f"{kernel}/state"),
            ("POST", f"{kernel}/ops"),
        ]

    def ws_url(self, owner: str = "alice") -> str:
        base = self.hub.url.replace("http://", "ws://")
        return f"{base}user/{owner}/transpector/kernels/{self.kernel_id}/ws"

    def prompt(self) -> str:
        answer = self.alice.client.get(self.routes()[2][1], headers=self.alice.auth())
        state = answer.json()["state"]
        return str(state["prompts"][state["active"]])


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    with running_hub(tmp_path_factory.mktemp("hub")) as hub:
        alice, bob = hub.login("alice"), hub.login("bob")
        hub.start_server(alice)
        hub.start_server(bob)
        hub.wait_ready(alice)
        hub.wait_ready(bob)
        # Bob opens his own JupyterLab: the hub's OAuth gives him his server's cookie too.
        assert bob.client.get("user/bob/lab", follow_redirects=True).status_code == 200
        assert "jupyterhub-user-bob" in bob.cookie_header()
        kernel_id = start_kernel(hub, alice)
        execute(hub, alice, kernel_id, ATTACH_TINY + "\nsession.prompt = 'alice only'")
        yield Setup(hub, alice, bob, kernel_id)


def request(
    setup: Setup, method: str, path: str, headers: dict[str, str], prompt: str = "not alice's"
) -> httpx.Response:
    """A fresh client (no cookie jar): only ``headers`` speak for the caller. Redirects are
    followed with the same headers, as a browser would send its cookies to the login page. A
    POST sets the prompt."""
    body = json.dumps({"op": "set_prompt", "prompt": prompt, "request_id": "r1"})
    with httpx.Client(base_url=setup.hub.url, timeout=60, follow_redirects=True) as client:
        if method != "POST":
            return client.request(method, path, headers=headers)
        json_headers = {**headers, "Content-Type": "application/json"}
        return client.request(method, path, content=body, headers=json_headers)


def handshake(url: str, headers: dict[str, str]) -> int:
    """The websocket handshake's status: 101 when it opened (and sent the session's state)."""
    try:
        with connect(url, additional_headers=headers, open_timeout=30) as ws:
            assert json.loads(ws.recv(timeout=30))["op"] == "state"
            return 101
    except InvalidStatus as refused:
        return int(refused.response.status_code)


def bob_credentials(setup: Setup) -> dict[str, dict[str, str]]:
    xsrf = {"X-XSRFToken": "c0ffee"}  # with a matching _xsrf cookie: the POST is otherwise valid
    return {
        "bob's cookies": {"Cookie": f"{setup.bob.cookie_header()}; _xsrf=c0ffee", **xsrf},
        "bob's hub API token": setup.bob.auth(),
        "no credentials": {},
    }


def test_alice_reaches_her_own_routes(setup: Setup) -> None:
    statuses = {}
    for method, path in setup.routes():
        answer = request(setup, method, path, setup.alice.auth(), prompt="alice only")
        statuses[f"{method} {path}"] = answer.status_code
    statuses["websocket"] = handshake(setup.ws_url(), setup.alice.auth())
    print(json.dumps(statuses, indent=1))
    assert set(statuses.values()) <= {200, 101}, statuses
    sessions = request(setup, "GET", "user/alice/transpector/sessions", setup.alice.auth())
    mine = [s for s in sessions.json() if s["kernel_id"] == setup.kernel_id]
    assert mine and mine[0]["attached"] is True
    graph = request(setup, "GET", setup.routes()[1][1], setup.alice.auth())
    assert graph.json()["n_layers"] == 2
    assert setup.prompt() == "alice only"


def test_bob_is_refused_on_every_route_of_alices(setup: Setup) -> None:
    refused: dict[str, int] = {}
    for who, headers in bob_credentials(setup).items():
        for method, path in setup.routes():
            answer = request(setup, method, path, headers)
            refused[f"{who}: {method} {path}"] = answer.status_code
            assert "alice only" not in answer.text and "n_layers" not in answer.text
        refused[f"{who}: websocket"] = handshake(setup.ws_url(), headers)
    # Bob's browser session asking for alice's JupyterLab: her server sends him to the hub's
    # OAuth, which refuses to hand him a login to her server.
    lab = setup.bob.client.get("user/alice/lab", follow_redirects=True)
    refused["bob's browser session: GET user/alice/lab"] = lab.status_code
    assert "jupyterhub-user-alice" not in {cookie.name for cookie in setup.bob.client.cookies.jar}
    print(json.dumps(refused, indent=1))
    assert all(status in (403, 404) for status in refused.values()), refused
    assert setup.prompt() == "alice only"  # bob's set_prompt never landed


def test_bobs_own_server_does_not_know_alices_kernel(setup: Setup) -> None:
    """Bob's server has the extension too, but only his kernels: alice's kernel id is unknown
    there, though both servers run on one machine."""
    sessions = request(setup, "GET", "user/bob/transpector/sessions", setup.bob.auth())
    assert sessions.status_code == 200
    assert setup.kernel_id not in sessions.text
    statuses = {}
    for method, path in setup.routes("bob")[1:]:
        statuses[f"{method} {path}"] = request(setup, method, path, setup.bob.auth()).status_code
    statuses["websocket"] = handshake(setup.ws_url("bob"), setup.bob.auth())
    assert set(statuses.values()) == {404}, statuses
    assert setup.prompt() == "alice only"


def test_a_wrong_password_does_not_log_in(setup: Setup) -> None:
    client, answer = setup.hub.submit_login("alice", PASSWORD + "x")
    client.close()
    assert answer.status_code == 403
    assert "jupyterhub-hub-login" not in dict(client.cookies)


# ---- the owner's own journey in a real browser, through the hub's proxy -------------------------
NOTEBOOK = {
    "nbformat": 4,
    "nbformat_minor": 5,
    "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3"}},
    "cells": [
        {
            "cell_type": "code",
            "id": "attach",
            "metadata": {},
            "execution_count": None,
            "outputs": [],
            "source": ATTACH_TINY.strip(),
        }
    ],
}


def wait_for_notebook_kernel(setup: Setup, name: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        sessions = setup.alice.client.get("user/alice/api/sessions", headers=setup.alice.auth())
        for session in sessions.json():
            if session["path"] == name and session["kernel"]["execution_state"] == "idle":
                return
        time.sleep(0.25)
    raise AssertionError(f"no idle kernel for {name} after {timeout} s")


@pytest.fixture
def tab() -> Iterator[Any]:
    """A tab of Debian chromium, launched as tests/browser's."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = instance.new_context(viewport={"width": 1440, "height": 900}).new_page()
        page.on("console", lambda m: print(f"console.{m.type}: {m.text}"))
        yield page
        instance.close()


@pytest.mark.browser
def test_alices_journey_in_a_browser_through_the_hub(setup: Setup, tab: Any) -> None:
    try:
        journey(setup, tab)
    except BaseException:
        screenshot(tab, "FAILED-hub-user-journey")
        raise


def journey(setup: Setup, page: Any) -> None:
    name = "journey.ipynb"
    saved = setup.alice.client.put(
        f"user/alice/api/contents/{name}",
        json={"type": "notebook", "content": NOTEBOOK},
        headers=setup.alice.auth(),
    )
    assert saved.status_code in (200, 201), saved.text

    # Log in on the hub's own page; it sends the browser on to alice's JupyterLab.
    lab = f"/user/alice/lab/tree/{name}"
    page.goto(f"{setup.hub.url}hub/login?next={quote(lab, safe='')}")
    page.locator("#username_input").fill("alice")
    page.locator("#password_input").fill(PASSWORD)
    page.locator("#login_submit").click()
    page.locator(".jp-NotebookPanel").wait_for(timeout=90_000)
    assert page.url.startswith(f"{setup.hub.url}user/alice/lab")
    wait_for_notebook_kernel(setup, name)
    page.locator(".jp-Toolbar-kernelName", has_text="Python 3").wait_for(timeout=30_000)

    # The notebook's cell attaches the tiny model; the canvas opens on it.
    run_all_cells(page)
    first = page.locator(".jp-NotebookPanel .jp-Cell").first.locator(".jp-InputArea-prompt")
    wait_until(lambda: first.inner_text().strip() == "[1]:", 120, "the attach cell")
    open_canvas(page)
    assert "2 layers · 4 heads" in page.locator(f"{CANVAS} .jp-Transpector-status").inner_text()

    type_prompt(page, "Hello hub")
    wait_until(lambda: "".join(tokens(page)).endswith("Hello hub"), 10, "tokens of the prompt")
    before = top_k(page)
    rendered_head(page, 0, 2).locator(".jp-Transpector-ablate").click()
    page.locator(".jp-Transpector-node[data-node-id='L0.H2'][data-ablated='true']").wait_for(
        timeout=10_000
    )
    wait_until(lambda: top_k(page) != before, 10, "top-k after ablating L0.H2")

    # A cell sees the canvas's ablation, and a cell's prompt reaches the canvas.
    output = run_new_cell(page, "session.interventions")
    output.filter(has_text="L0.H2").wait_for(timeout=20_000)
    run_new_cell(page, 'session.prompt = "Cell driven"')
    wait_until(lambda: "".join(tokens(page)).endswith("Cell driven"), 10, "cell-driven prompt")
    assert page.locator(".jp-Transpector-prompt").input_value() == "Cell driven"
    path = screenshot(page, "hub-user-journey")
    assert Path(path).stat().st_size > 10_000
