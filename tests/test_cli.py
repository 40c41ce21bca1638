"""`transpector lab` refuses bad input with one line and exit code 2, before starting anything."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

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
