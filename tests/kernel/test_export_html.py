"""The exported view: one HTML file that fetches nothing, whose data are the session's numbers
(next-token probabilities checked against plain hooks), whose notes cannot end its script early,
and paths that cannot be written refused with one message and no file left behind."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import torch

from transpector import TranspectorError
from transpector.kernel.session import Session

DATA = re.compile(r'<script type="application/json" id="transpector-data">(.*?)</script>', re.S)


def embedded(html: str) -> dict[str, Any]:
    found = DATA.search(html)
    assert found is not None, "no data in the page"
    data: dict[str, Any] = json.loads(found.group(1))
    return data


def plain_top_probs(model: Any, prompt: str, zeroed_layer: int, k: int) -> list[float]:
    """The last position's k largest next-token probabilities, L{layer}.mlp zeroed by hand."""

    def zero(act: torch.Tensor, hook: object) -> torch.Tensor:
        return torch.zeros_like(act)

    hook = (f"blocks.{zeroed_layer}.hook_mlp_out", zero)
    with torch.no_grad(), model.hooks(fwd_hooks=[hook]):
        probs = model(model.to_tokens(prompt))[0, -1].softmax(-1)
    return [float(p) for p in probs.topk(k).values]


def test_the_export_holds_the_session_s_view_and_fetches_nothing(
    session: Session, tmp_path: Path
) -> None:
    session.ablate("L1.mlp")
    note = "copies </script><script>window.pwned = 1</script> and <!-- this"
    session.note("L0.H1", note)
    session.add_pair("hello world", "hello wurld")
    sweep = session.call("activation_patching", sweep="head_out")
    path = session.export_html(tmp_path / "view.html")
    html = path.read_text(encoding="utf-8")
    data = embedded(html)

    shown = [t["prob"] for t in data["run"]["top_k"][-1]]
    assert shown == pytest.approx(plain_top_probs(session.model, "hello world", 1, 10), abs=1e-6)
    assert data["state"]["notes"] == {"L0.H1": note}
    assert [i["node"] for i in data["state"]["interventions"]] == ["L1.mlp"]
    assert [t["tool"] for t in data["tools"]] == ["activation_patching"]
    assert data["tools"][0]["result"]["values"] == sweep.model_dump()["values"]
    lens = data["lens"]
    assert len(lens["layers"]) == len(lens["probs"]) == 3  # L0, L1 resid_pre and resid_post
    assert lens["positions"] == list(range(len(data["run"]["tokens"])))
    # Two scripts (the data, the reader): the note's own tags stay inside the JSON.
    assert html.count("</script>") == 2 and html.count("<script") == 2
    assert re.search(r"\b(src|href)\s*=|https?://|@import|url\(", html) is None
    assert "default-src 'none'" in html


@pytest.mark.parametrize(
    ("where", "message"),
    [
        (lambda d: d, "is a folder: give a file name"),
        (lambda d: d / "missing" / "view.html", "cannot write .*No such file or directory"),
        (lambda d: d / "a-file" / "view.html", "cannot write .*Not a directory"),
    ],
)
def test_a_path_that_cannot_be_written_is_refused(
    session: Session, tmp_path: Path, where: Any, message: str
) -> None:
    (tmp_path / "a-file").write_text("kept")
    before = sorted(p.name for p in tmp_path.iterdir())
    version = session.version
    with pytest.raises(TranspectorError, match=message):
        session.export_html(where(tmp_path))
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    assert (tmp_path / "a-file").read_text() == "kept" and session.version == version


def test_an_export_replaces_an_older_one_whole(session: Session, tmp_path: Path) -> None:
    path = tmp_path / "view.html"
    path.write_text("an older export")
    session.export_html(path)
    assert embedded(path.read_text())["graph"]["model_name"] == session.graph.model_name
    assert [p.name for p in tmp_path.iterdir()] == ["view.html"]
