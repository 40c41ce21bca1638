"""Session state: versioned changes, subscribers, files, and bad input that changes nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import transpector
from tests.conftest import boot_tiny
from transpector import TranspectorError
from transpector.kernel.session import Session
from transpector.protocol.state import SessionState


def test_every_change_bumps_the_version_and_reaches_subscribers(session: Session) -> None:
    seen: list[dict[str, Any]] = []
    session.subscribe(seen.append)
    start = session.version
    session.prompt = "hello there"
    spec = session.ablate("L1.H2")
    session.set_note("L0.mlp", "looks like a bigram table")
    session.remove(spec.id)
    assert [c["op"] for c in seen] == [
        "set_prompt",
        "add_intervention",
        "set_note",
        "remove_intervention",
    ]
    assert [c["version"] - start for c in seen] == [1, 2, 3, 4]
    assert session.version == start + 4
    assert session.notes == {"L0.mlp": "looks like a bigram table"}
    assert session.interventions == []


def test_attach_returns_the_same_session_for_the_same_model(tmp_path: Path) -> None:
    model = boot_tiny(tmp_path)
    assert transpector.attach(model) is transpector.attach(model)
    assert transpector.attach(model).graph.n_layers == 2


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        (lambda s: s.ablate("L9.H0"), "unknown node"),
        (lambda s: s.ablate("L0.ln1"), "is a ln1 node"),
        (lambda s: s.ablate("L0.mlp.N999"), "256 neurons"),
        (lambda s: s.isolate("L0.mlp"), "isolate needs a head"),
        (lambda s: s.patch(source="L0.H1", target="L0.resid_pre"), "shapes differ"),
        (lambda s: s.ablate("L0.H1", positions=[40]), "out of range"),
        (lambda s: s.remove("nope"), "no intervention"),
        (lambda s: setattr(s, "prompt", ""), "empty"),
        (lambda s: setattr(s, "prompt", "x" * 100), "at most 64"),
        (lambda s: s.set_note("L7.attn", "x"), "unknown node"),
        (lambda s: s.select_prompt(3), "no prompt 3"),
        (lambda s: s.patch("L0.H1", "L1.H1", source_prompt="a longer prompt"), "give positions"),
        (
            lambda s: s.lens_top_k("L0.resid_pre", 0, k=0),
            "k: Input should be greater than or equal to 1",
        ),
    ],
)
def test_bad_input_raises_and_leaves_state_exactly_as_it_was(
    session: Session, change: Any, needle: str
) -> None:
    session.prompt = "hello world"
    session.ablate("L0.H0")
    before = session.state.model_dump()
    with pytest.raises(TranspectorError, match=needle):
        change(session)
    assert session.state.model_dump() == before


@pytest.mark.parametrize("method", ["mean", "resample"])
def test_an_ablation_that_needs_references_is_refused_without_them(
    session: Session, method: Any
) -> None:
    before = session.state.model_dump()
    with pytest.raises(TranspectorError, match=f"{method} ablation of L0.mlp needs reference"):
        session.ablate("L0.mlp", method=method)
    with pytest.raises(TranspectorError, match="needs reference prompts"):
        session.isolate("L0.H1", method=method)
    assert session.state.model_dump() == before
    session.reference_prompts = ["some text"]
    session.ablate("L0.mlp", method=method)
    with pytest.raises(TranspectorError, match="needs reference prompts"):
        session.reference_prompts = []  # the ablation still needs them
    assert session.reference_prompts == ["some text"]
    session.run()


def test_state_file_survives_a_new_session(tiny_model: Any, tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    first = Session(tiny_model, state_file=path)
    first.prompt = "abc abc"
    first.reference_prompts = ["the cat", "a dog"]
    first.ablate("L1.H3", method="mean", positions=[1, 2])
    first.set_note("L1.H3", "copy head?")
    first.add_pair("abc abc", "abd abd")
    first.set_metric("token_loss", token="a")
    again = Session(tiny_model, state_file=path)
    assert again.state == first.state and again.restored
    assert again.run().logits.allclose(first.run().logits)


def test_load_replaces_the_state_as_one_change(tiny_model: Any, tmp_path: Path) -> None:
    saved = Session(tiny_model)
    saved.prompt = "saved prompt"
    saved.isolate("L0.H1", positions=[0])
    saved.save(tmp_path / "saved.json")
    session = Session(tiny_model)
    session.ablate("L1.mlp")
    seen: list[dict[str, Any]] = []
    session.subscribe(seen.append)
    session.load(tmp_path / "saved.json")
    assert [c["op"] for c in seen] == ["load_state"]
    assert session.prompt == "saved prompt"
    assert session.interventions == saved.interventions
    assert session.run().logits.allclose(saved.run().logits)


def test_a_state_file_the_model_cannot_use_is_set_aside(tiny_model: Any, tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    path.write_text("{broken")
    with pytest.warns(UserWarning, match="cannot read session state"):
        fresh = Session(tiny_model, state_file=path)
    assert not fresh.restored and fresh.version == 0
    assert (tmp_path / "state.json.corrupt").read_text() == "{broken"  # nothing is lost
    other = SessionState(model_name="another-model", prompts=["kept"])
    path.write_text(other.model_dump_json())
    with pytest.warns(UserWarning, match="'another-model', not of 'native'"):
        Session(tiny_model, state_file=path)
    kept = tmp_path / "state.json.corrupt.1"  # the earlier one is not overwritten
    assert SessionState.model_validate_json(kept.read_text()) == other
    assert (tmp_path / "state.json.corrupt").read_text() == "{broken"
    with pytest.raises(TranspectorError, match="cannot read session state"):
        path.write_text("{broken")
        fresh.load(path)  # an explicit load says so instead


def test_ablate_takes_its_old_kind_keyword_with_a_deprecation_warning(session: Session) -> None:
    session.reference_prompts = ["some text"]
    with pytest.warns(DeprecationWarning, match="pass method="):
        spec = session.ablate("L0.mlp", kind="mean")
    assert spec.method == "mean"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("kind", "prompt", "positions", "message"),
    [
        ("freeze", "", None, "freeze of L0.H1: its prompt: the prompt is empty"),
        ("freeze", "", [0], "freeze of L0.H1: its prompt: the prompt is empty"),
        ("freeze", "hi", [5], r"freeze of L0.H1: its prompt: positions \[5\] out of range"),
        ("freeze", "\udcff", None, "freeze of L0.H1: its prompt: .*lone surrogate"),
        ("freeze", "hi", None, "the source prompt has 3 tokens"),
        ("patch", "hi", [5], r"patch of L0.H1: its source prompt: positions \[5\] out of range"),
    ],
)
def test_a_freeze_or_patch_whose_prompt_cannot_be_used_is_refused_when_added(
    session: Session, kind: str, prompt: str, positions: list[int] | None, message: str
) -> None:
    from pydantic import TypeAdapter

    from transpector.protocol.interventions import Intervention

    fields: dict[str, Any] = {"kind": kind, "node": "L0.H1", "positions": positions}
    fields |= (
        {"prompt": prompt} if kind == "freeze" else {"source": "L0.H1", "source_prompt": prompt}
    )
    spec = TypeAdapter(Intervention).validate_python(fields)
    version = session.version
    with pytest.raises(TranspectorError, match=message):
        session.add(spec)
    assert session.version == version and session.interventions == []
    assert session.run().tokens  # later runs are unaffected
