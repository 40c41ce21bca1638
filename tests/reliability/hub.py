"""A real JupyterHub on loopback for tests: configurable-http-proxy from node_modules, two users
with a shared test password, and each user's single-user Jupyter server started from this
project's environment (so the Transpector extension is enabled in it, as in a real deployment).

Test only: ``SimpleLocalProcessSpawner`` runs every user's server as the *current* Unix user, in
a home folder of its own. The hub, its proxy and the users' servers keep each user's requests to
that user's server; they do not keep one user's *code* from reading another's files (a real hub
gives each user a Unix account or a container).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
import warnings
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from websockets.sync.client import connect

from tests.conftest import REPO
from tests.helpers import free_port

USERS = ("alice", "bob")
PASSWORD = "transpector-test-password"  # SharedPasswordAuthenticator wants 8 characters or more
PROXY = REPO / "node_modules" / ".bin" / "configurable-http-proxy"
BIN = Path(sys.executable).parent  # this project's .venv/bin
MARKER = "TRANSPECTOR_HUB_TEST"  # in the environment of every process the hub starts

HUB_CONFIG = """\
c = get_config()  # noqa: F821
c.JupyterHub.ip = "127.0.0.1"
c.JupyterHub.port = {port}
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = {hub_port}
c.JupyterHub.db_url = {db_url!r}
c.JupyterHub.cookie_secret_file = {cookie_secret!r}
c.ConfigurableHTTPProxy.command = [{proxy!r}]
c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:{proxy_api_port}"
c.ConfigurableHTTPProxy.pid_file = {proxy_pid!r}
# DummyAuthenticator's password is deprecated since JupyterHub 5.3: this is its replacement.
c.JupyterHub.authenticator_class = "shared-password"
c.SharedPasswordAuthenticator.user_password = {password!r}
c.Authenticator.allowed_users = {users!r}
c.JupyterHub.spawner_class = "simple"
c.SimpleLocalProcessSpawner.home_dir_template = {home_template!r}
c.Spawner.cmd = [{singleuser!r}]
c.Spawner.default_url = "/lab"
c.Spawner.start_timeout = 120
c.Spawner.http_timeout = 120
c.Spawner.environment = {environment!r}
"""

# Each user's own ~/.jupyter: we run as root here, and JupyterLab's news (and its consent popup)
# and update checks stay off (no network).
SINGLE_USER_CONFIG = """\
c = get_config()  # noqa: F821
c.ServerApp.allow_root = True
c.ServerApp.terminals_enabled = False
c.LabApp.news_url = None
c.LabApp.check_for_updates_class = "jupyterlab.NeverCheckForUpdate"
"""
PAGE_CONFIG = {"disabledExtensions": {"@jupyterlab/apputils-extension:announcements": True}}


@dataclass
class User:
    name: str
    client: httpx.Client  # holds this user's cookies: the hub's login and their own server's
    token: str = ""  # a hub API token of this user's, created through the hub's API

    def auth(self) -> dict[str, str]:
        return {"Authorization": f"token {self.token}"}

    def cookie_header(self) -> str:
        """Every cookie this user holds, whatever its path (a client may send them anywhere)."""
        return "; ".join(f"{c.name}={c.value}" for c in self.client.cookies.jar)


@dataclass
class Hub:
    url: str  # the proxy's public URL, ending in /
    home: Path  # users' homes are home/<name>
    log: Path
    users: dict[str, User] = field(default_factory=dict)

    def submit_login(self, name: str, password: str) -> tuple[httpx.Client, httpx.Response]:
        """Fill in the hub's login form, as a browser does: the client and the form's answer."""
        client = httpx.Client(base_url=self.url, timeout=60)
        page = client.get("hub/login")
        page.raise_for_status()
        found = re.search(r'name="_xsrf" value="([^"]+)"', page.text)
        assert found, "no _xsrf field in the hub's login page"
        answer = client.post(
            "hub/login", data={"username": name, "password": password, "_xsrf": found[1]}
        )
        return client, answer

    def login(self, name: str) -> User:
        client, answer = self.submit_login(name, PASSWORD)
        assert answer.status_code == 302, f"login of {name}: {answer.status_code} {answer.text}"
        user = User(name, client)
        user.token = self.create_token(user)
        self.users[name] = user
        return user

    def create_token(self, user: User) -> str:
        """A token from the hub's API, asked for with the user's own login cookie."""
        xsrf = user.client.cookies.get("_xsrf", path="/hub/") or user.client.cookies.get("_xsrf")
        answer = user.client.post(
            f"hub/api/users/{user.name}/tokens",
            json={"note": "transpector test", "expires_in": 3600},
            headers={"X-XSRFToken": xsrf or ""},
        )
        assert answer.status_code == 201, f"token for {user.name}: {answer.text}"
        return str(answer.json()["token"])

    def start_server(self, user: User) -> None:
        answer = user.client.post(f"hub/api/users/{user.name}/server", headers=user.auth())
        assert answer.status_code in (201, 202), f"spawn {user.name}: {answer.text}"

    def wait_ready(self, user: User, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            model = user.client.get(f"hub/api/users/{user.name}", headers=user.auth()).json()
            server = model.get("servers", {}).get("")
            if server and server.get("ready"):
                return
            time.sleep(0.3)
        raise AssertionError(f"{user.name}'s server not ready after {timeout} s:\n{self.tail()}")

    def tail(self, lines: int = 60) -> str:
        return "".join(self.log.read_text(errors="replace").splitlines(True)[-lines:])


def hub_config(tmp: Path, port: int) -> str:
    environment = {
        "PATH": f"{BIN}:/usr/local/bin:/usr/bin:/bin",
        "PYTHONPATH": str(REPO),  # the kernels import tests.conftest (the tiny model)
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "HF_HUB_OFFLINE": "1",
        MARKER: str(tmp),
    }
    return HUB_CONFIG.format(
        port=port,
        hub_port=free_port(),
        proxy_api_port=free_port(),
        db_url=f"sqlite:///{tmp / 'jupyterhub.sqlite'}",
        cookie_secret=str(tmp / "jupyterhub_cookie_secret"),
        proxy=str(PROXY),
        proxy_pid=str(tmp / "proxy.pid"),
        password=PASSWORD,
        users=set(USERS),
        home_template=str(tmp / "home" / "{username}"),
        singleuser=str(BIN / "jupyterhub-singleuser"),
        environment=environment,
    )


@contextmanager
def running_hub(tmp: Path) -> Iterator[Hub]:
    """Start the hub (and, through it, the proxy); on the way out stop it, and with it every
    process it started: the proxy, the users' servers and their kernels."""
    assert PROXY.exists(), f"{PROXY} is missing: run `jlpm install` (make install does)"
    port = free_port()
    for name in USERS:
        config_dir = tmp / "home" / name / ".jupyter"
        config_dir.mkdir(parents=True)
        (config_dir / "jupyter_server_config.py").write_text(SINGLE_USER_CONFIG)
        (config_dir / "labconfig").mkdir()
        (config_dir / "labconfig" / "page_config.json").write_text(json.dumps(PAGE_CONFIG))
    config = tmp / "jupyterhub_config.py"
    config.write_text(hub_config(tmp, port))
    log = tmp / "hub.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [str(BIN / "jupyterhub"), "-f", str(config)],
            cwd=tmp,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=os.environ | {MARKER: str(tmp)},
            start_new_session=True,
        )
    hub = Hub(f"http://127.0.0.1:{port}/", tmp / "home", log)
    try:
        wait_healthy(hub, process)
        yield hub
    finally:
        for user in hub.users.values():
            user.client.close()
        stop(process)
        leftovers = stop_leftovers(str(tmp))
        if leftovers:
            warnings.warn(f"processes left after the hub stopped: {leftovers}", stacklevel=2)


def wait_healthy(hub: Hub, process: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"jupyterhub exited with {process.returncode}:\n{hub.tail()}")
        with suppress(httpx.HTTPError):
            if httpx.get(hub.url + "hub/health", timeout=5).status_code == 200:
                return
        time.sleep(0.3)
    raise AssertionError(f"jupyterhub not healthy after {timeout} s:\n{hub.tail()}")


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM: the hub stops the users' servers (which shut their kernels down) and its proxy."""
    process.terminate()
    try:
        process.wait(60)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def marked_processes(marker: str) -> list[int]:
    """Processes whose environment carries ``MARKER=marker``: the hub's and its children's."""
    wanted = f"{MARKER}={marker}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        with suppress(OSError):
            if wanted in (entry / "environ").read_bytes().split(b"\0"):
                found.append(int(entry.name))
    return found


def stop_leftovers(marker: str, grace: float = 15) -> list[str]:
    """Wait for the hub's processes to end; kill any still there after ``grace`` seconds and
    say which they were."""
    deadline = time.monotonic() + grace
    while marked_processes(marker) and time.monotonic() < deadline:
        time.sleep(0.2)
    left = []
    for pid in marked_processes(marker):
        with suppress(OSError):
            left.append(Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode())
            os.kill(pid, signal.SIGKILL)
    return left


# ---- a kernel of a user's server, driven through that server's REST API and channels ----------
def start_kernel(hub: Hub, user: User) -> str:
    answer = user.client.post(
        f"user/{user.name}/api/kernels", json={"name": "python3"}, headers=user.auth()
    )
    assert answer.status_code == 201, f"kernel for {user.name}: {answer.text}"
    return str(answer.json()["id"])


def execute(hub: Hub, user: User, kernel_id: str, code: str, timeout: float = 120) -> None:
    """Run ``code`` in the kernel over the server's kernel channels websocket (Jupyter's
    messaging protocol, JSON frames); AssertionError with the traceback if it fails."""
    url = hub.url.replace("http://", "ws://") + f"user/{user.name}/api/kernels/{kernel_id}/channels"
    msg_id = uuid.uuid4().hex
    request = {
        "header": {
            "msg_id": msg_id,
            "msg_type": "execute_request",
            "username": user.name,
            "session": uuid.uuid4().hex,
            "version": "5.3",
            "date": "",
        },
        "parent_header": {},
        "metadata": {},
        "content": {
            "code": code,
            "silent": False,
            "store_history": False,
            "user_expressions": {},
            "allow_stdin": False,
            "stop_on_error": True,
        },
        "channel": "shell",
        "buffers": [],
    }
    errors: list[str] = []
    deadline = time.monotonic() + timeout
    with connect(url, additional_headers=user.auth(), open_timeout=30) as ws:
        ws.send(json.dumps(request))
        while True:
            message: dict[str, Any] = json.loads(ws.recv(timeout=deadline - time.monotonic()))
            if message.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            if message["msg_type"] == "error":
                errors.append("\n".join(message["content"]["traceback"]))
            if message["msg_type"] == "execute_reply":
                assert message["content"]["status"] == "ok", "\n".join(errors)
                return
