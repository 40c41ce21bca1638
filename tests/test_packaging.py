"""The wheel carries the prebuilt labextension and auto-enables the server extension: after a
plain `pip install` of it (no node), Jupyter lists both as enabled and OK."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from tests.conftest import REPO
from transpector import __version__

SHARED = f"transpector-{__version__}.data/data"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            out,
            REPO,
        ],
        check=True,
        capture_output=True,
    )
    (built,) = out.glob("transpector-*.whl")
    return built


def test_wheel_carries_labextension_and_server_config(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    ext = f"{SHARED}/share/jupyter/labextensions/transpector"
    assert f"{ext}/package.json" in names
    assert f"{ext}/install.json" in names
    assert any(re.fullmatch(rf"{ext}/static/remoteEntry\.\w+\.js", n) for n in names)
    assert f"{SHARED}/etc/jupyter/jupyter_server_config.d/transpector.json" in names
    assert "transpector/jupyter_server_config.py" in names
    assert "transpector/lab_config/labconfig/page_config.json" in names
    docs = "transpector/kernel/docs_assets"  # Swagger UI 5 for /api/docs, offline
    assert {f"{docs}/swagger-ui-bundle.js", f"{docs}/swagger-ui.css", f"{docs}/LICENSE"} <= names
    widget = "transpector/kernel/widget_assets"  # the notebook widget's bundle, and the export's
    assert {f"{widget}/widget.js", f"{widget}/widget.css"} <= names
    assert "transpector/kernel/export_assets/viewer.js" in names
    built = json.loads(zipfile.ZipFile(wheel).read(f"{ext}/package.json"))
    assert built["version"] == __version__


def test_fresh_install_lists_both_extensions_enabled_and_ok(wheel: Path, tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", venv], check=True)
    python = venv / "bin" / "python"
    site = Path(
        subprocess.check_output([python, "-c", "import site; print(site.getsitepackages()[0])"])
        .decode()
        .strip()
    )
    # Dependencies come from the test environment; transpector itself only from the wheel.
    (site / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run(
        [python, "-m", "pip", "install", "--no-deps", "--no-index", wheel],
        check=True,
        capture_output=True,
    )
    where = subprocess.check_output(
        [python, "-c", "import transpector; print(transpector.__file__)"], cwd=tmp_path
    )
    assert str(site) in where.decode()
    server = subprocess.run(
        [python, "-m", "jupyter", "server", "extension", "list"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    lab = subprocess.run(
        [python, "-m", "jupyter", "labextension", "list"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    plain = re.sub(r"\x1b\[[0-9;]*m", "", server.stdout + server.stderr)
    assert re.search(r"transpector\s+enabled", plain), plain
    assert re.search(rf"transpector {re.escape(__version__)}\s+OK", plain), plain
    plain = re.sub(r"\x1b\[[0-9;]*m", "", lab.stdout + lab.stderr)
    assert re.search(rf"transpector v{re.escape(__version__)}\s+enabled\s+OK", plain), plain


def test_versions_agree() -> None:
    assert json.loads((REPO / "package.json").read_text())["version"] == __version__
