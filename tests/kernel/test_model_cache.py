"""The manifest that decides whether a cached model directory can be trusted."""

from __future__ import annotations

from pathlib import Path

from transpector.kernel import model_cache


def _folder(tmp_path: Path) -> Path:
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "config.json").write_text('{"a": 1}')
    (folder / "weights.bin").write_bytes(bytes(range(256)) * 64)
    return folder


def test_a_complete_folder_passes(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    model_cache.write_manifest(folder)
    assert model_cache.problem_with(folder) is None


def test_a_folder_without_manifest_is_an_interrupted_build(tmp_path: Path) -> None:
    assert "interrupted" in (model_cache.problem_with(_folder(tmp_path)) or "")


def test_truncated_missing_and_altered_files_are_caught(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    model_cache.write_manifest(folder)
    weights = folder / "weights.bin"
    weights.write_bytes(weights.read_bytes()[:100])
    assert "does not match" in (model_cache.problem_with(folder) or "")
    weights.unlink()
    assert "missing" in (model_cache.problem_with(folder) or "")


def test_a_garbled_manifest_is_caught(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    (folder / model_cache.MANIFEST).write_text("{not json")
    assert "not valid JSON" in (model_cache.problem_with(folder) or "")
