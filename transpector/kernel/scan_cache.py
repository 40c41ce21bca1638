"""Results of dataset scans on disk, keyed by the model's weights, the dataset and the hook.

An entry is a ``torch.save`` file of tensors under ``<cache root>/scans``, named by the sha256
of its key. It is written to a temporary file in the same folder and renamed into place when
the scan has finished, so a scan that is cancelled or fails leaves no entry, whole or partial.
``clear()`` removes them all.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

import torch

from transpector.kernel.package_files import cache_root

Entry = dict[str, torch.Tensor]


def folder() -> Path:
    return cache_root() / "scans"


def entry_key(*parts: object) -> str:
    return hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).hexdigest()


def load(key: str) -> Entry | None:
    path = folder() / f"{key}.pt"
    if not path.is_file():
        return None
    try:
        entry: Entry = torch.load(path, weights_only=True)
    except Exception:  # a damaged entry is computed again
        path.unlink(missing_ok=True)
        return None
    return entry


def save(key: str, entry: Entry) -> Path:
    where = folder()
    where.mkdir(parents=True, exist_ok=True)
    handle, partial = tempfile.mkstemp(prefix=f".{key[:16]}.", suffix=".partial", dir=where)
    os.close(handle)
    try:
        torch.save(entry, partial)
        return Path(partial).replace(where / f"{key}.pt")
    finally:
        Path(partial).unlink(missing_ok=True)


def entries() -> list[Path]:
    where = folder()
    return sorted(where.iterdir()) if where.is_dir() else []


def clear() -> int:
    """Remove every entry (and any partial file); the bytes freed."""
    freed = 0
    for path in entries():
        if path.is_file():
            freed += path.stat().st_size
            path.unlink(missing_ok=True)
    return freed
