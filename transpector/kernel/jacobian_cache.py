"""Fitted Jacobian lenses on disk, under ``<cache root>/jacobian_lens``.

An entry is ``<key>.pt`` (TransformerLens's artifact format, float32) and ``<key>.json`` (its
``JacobianLensInfo``); the key is the sha256 of the weights digest, the dataset's digest and the
fit options. ``latest-<weights digest>`` names the entry fitted last for those weights, which is
loaded by itself when the Jacobian lens is asked for. Files are written to a temporary name and
renamed into place, so a fit that is cancelled or fails leaves nothing. ``clear()`` removes all.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from transpector.kernel.package_files import cache_root
from transpector.kernel.scan_cache import entry_key
from transpector.protocol.jacobian_lens import JacobianLensInfo

__all__ = ["clear", "entry_key", "folder", "latest", "load_info", "save", "save_pointer"]


def folder() -> Path:
    return cache_root() / "jacobian_lens"


def lens_path(key: str) -> Path:
    return folder() / f"{key}.pt"


def load_info(key: str) -> JacobianLensInfo | None:
    """The entry's info when both of its files are there and readable, else None."""
    info_file = folder() / f"{key}.json"
    if not (info_file.is_file() and lens_path(key).is_file()):
        return None
    try:
        return JacobianLensInfo.model_validate_json(info_file.read_text())
    except ValueError:  # a damaged entry is fitted again
        return None


def latest(weights: str) -> str | None:
    """The key of the entry fitted last for these weights, when it is still there."""
    pointer = folder() / f"latest-{weights[:32]}"
    try:
        key = pointer.read_text().strip()
    except OSError:
        return None
    return key if load_info(key) is not None else None


def save(
    key: str, weights: str, write_lens: Callable[[Path], None], info: JacobianLensInfo
) -> None:
    """Write the lens (by ``write_lens(path)``), its info, and the pointer, each renamed into
    place when whole."""
    where = folder()
    where.mkdir(parents=True, exist_ok=True)
    _atomic(where / f"{key}.pt", write_lens)
    _atomic(where / f"{key}.json", lambda p: p.write_text(info.model_dump_json()))
    save_pointer(key, weights)


def save_pointer(key: str, weights: str) -> None:
    """Make ``key`` the entry loaded by itself for these weights."""
    _atomic(folder() / f"latest-{weights[:32]}", lambda p: p.write_text(key))


def _atomic(target: Path, write: Callable[[Path], object]) -> None:
    handle, partial = tempfile.mkstemp(prefix=f".{target.name[:16]}.", suffix=".partial",
                                       dir=target.parent)  # fmt: skip
    os.close(handle)
    try:
        write(Path(partial))
        Path(partial).replace(target)
    finally:
        Path(partial).unlink(missing_ok=True)


def entries() -> list[Path]:
    where = folder()
    return sorted(p for p in where.iterdir() if p.is_file()) if where.is_dir() else []


def clear() -> int:
    """Remove every entry, pointer and partial file; the bytes freed."""
    freed = 0
    for path in entries():
        freed += path.stat().st_size
        path.unlink(missing_ok=True)
    return freed
