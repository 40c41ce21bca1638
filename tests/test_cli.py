"""`transpector lab` refuses bad input with one line and exit code 2, before starting anything,
and stopping it stops the JupyterLab it started."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from tests.helpers import free_port
from tests.tiny_models import tiny_llama_dir
from transpector.starter import STARTER_NAME, write_starter


def _lab(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "transpector.cli", "lab", "--no-browser", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_port_in_use_gives_one_line_naming_the_fix(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = _lab("--port", str(port), "--model", str(tmp_path), "--notebook-dir", str(tmp_path))
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"transpector: port {port} is already in use; pick another with --port, "
        "or leave --port out for a free one"
    ]


def test_a_missing_model_directory_is_refused(tmp_path: Path) -> None:
    done = _lab("--model", str(tmp_path / "nope"), "--notebook-dir", str(tmp_path))
    assert done.returncode == 2
    assert "no model directory" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_a_missing_notebook_folder_is_refused(tmp_path: Path) -> None:
    done = _lab("--notebook-dir", str(tmp_path / "nope"))
    assert done.returncode == 2
    assert "does not exist" in done.stderr


def test_starter_notebook_is_valid_and_never_overwritten(tmp_path: Path) -> None:
    import nbformat

    path = write_starter(tmp_path)
    assert path.name == STARTER_NAME
    notebook = nbformat.read(str(path), as_version=4)
    nbformat.validate(notebook)
    sources = [cell.source for cell in notebook.cells]
    assert any("transpector.load_model()" in s for s in sources)
    path.write_text(json.dumps({**json.loads(path.read_text()), "cells": []}))
    write_starter(tmp_path)
    assert json.loads(path.read_text())["cells"] == []


def test_stopping_transpector_lab_stops_jupyterlab(tmp_path: Path) -> None:
    model = tiny_llama_dir(tmp_path / "model")
    port = free_port()
    command = [sys.executable, "-m", "transpector.cli", "lab", "--no-browser", "--port", str(port)]
    command += ["--model", str(model), "--notebook-dir", str(tmp_path)]
    with (tmp_path / "lab.log").open("w") as log:
        lab = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        try:
            assert _until(lambda: _listening(port), 120), "JupyterLab never listened"
            lab.send_signal(signal.SIGTERM)
            lab.wait(60)
            # JupyterLab (a child process) is gone too: its port no longer answers.
            assert _until(lambda: not _listening(port), 30), (tmp_path / "lab.log").read_text()
        finally:
            lab.kill()


def _listening(port: int) -> bool:
    with socket.socket() as client:
        return client.connect_ex(("127.0.0.1", port)) == 0


def _until(condition: Callable[[], bool], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return False
