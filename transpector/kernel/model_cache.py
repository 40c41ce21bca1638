"""A model directory that is trusted only when its manifest of sha256 sums matches.

The manifest is written last, so a conversion that stopped half way leaves no manifest and is
rebuilt; a file changed or truncated later no longer matches its sum and is rebuilt too.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

MANIFEST = "transpector-manifest.json"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_manifest(directory: Path) -> None:
    files = sorted(p for p in directory.iterdir() if p.is_file() and p.name != MANIFEST)
    sums = {p.name: sha256_of(p) for p in files}
    (directory / MANIFEST).write_text(json.dumps(sums, indent=1))


def problem_with(directory: Path) -> str | None:
    """None when every file listed in the manifest is there with its sum, else what is wrong."""
    manifest = directory / MANIFEST
    if not manifest.is_file():
        return f"{directory} has no {MANIFEST} (an interrupted build?)"
    try:
        sums = json.loads(manifest.read_text())
    except ValueError:
        return f"{manifest} is not valid JSON"
    if not isinstance(sums, dict) or not sums:
        return f"{manifest} lists no files"
    for name, expected in sums.items():
        path = directory / name
        if not path.is_file():
            return f"{path} is missing"
        if sha256_of(path) != expected:
            return f"{path} does not match its sha256"
    return None


def clear(directory: Path) -> None:
    shutil.rmtree(directory, ignore_errors=True)
