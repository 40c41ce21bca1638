"""Notes on nodes, neurons, token positions, logit-lens cells and patching sweep cells: every
target form accepted, near misses refused with one message and no change, code still compiles,
notes survive the state file and save/load."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import boot_tiny
from transpector import TranspectorError
from transpector.kernel import dispatch
from transpector.kernel.session import Session
from transpector.kernel.tools.patching_cells import BY_POSITION, HEAD_ROLES, LAYER_NODES
from transpector.protocol.notes import SWEEP_CELL_FORMS, TARGET_FORMS, parse_target
from transpector.protocol.patching import PatchingSweep

# The tiny model: 2 layers, 4 heads, d_mlp 256, n_ctx 64, LayerNorm, absolute positions.
ACCEPTED = [
    "L0.H2", "L1.H3", "L1.attn", "L0.mlp", "L1.mlp.N5", "L0.mlp.N255", "embed", "pos_embed",
    "L0.ln1", "L1.ln2", "L0.resid_pre", "L1.resid_mid", "L1.resid_post", "ln_final", "unembed",
    "tokens", "pos:0", "pos:5", "pos:-1", "pos:63", "pos:-64", "lens:L0.resid_pre@0",
    "lens:L1.resid_pre@-1", "lens:L1.resid_post@3", "sweep:head_out:L1.H3",
    "sweep:head_pattern:L0.H0", "sweep:q:L1.H2", "sweep:k:L0.H3", "sweep:v:L1.H0",
    "sweep:resid_pre:L1@5", "sweep:attn_out:L0@-1", "sweep:mlp_out:L1@0",
    "sweep:head_out_by_pos:L1.H3@5",
]  # fmt: skip
REFUSED = [
    ("", "empty target"),
    ("L2.H0", "unknown node"),
    ("L0.H4", "unknown node"),
    ("L0.mlp.N256", "256 neurons"),
    ("L0.mlp.N05", "write it L0.mlp.N5"),
    ("L0.H1\n", "unknown node"),
    ("L0.mlp.N5\n", "unknown node"),
    ("L0.mlp.N\u0665", "unknown node"),  # Arabic-Indic five
    ("L\u0660.H1", "unknown node"),
    (" L0.H1", "unknown node"),
    ("pos:5\n", "not a pos: target"),
    ("pos:\u0665", "not a pos: target"),
    ("pos:05", "not a pos: target"),
    ("pos:-0", "not a pos: target"),
    ("pos:", "not a pos: target"),
    ("pos:64", "position 64 is out of range"),
    ("pos:-65", "position -65 is out of range"),
    ("lens:L0.resid_pre", "not a lens: target"),
    ("lens:L0.resid_pre@1\n", "not a lens: target"),
    ("lens:L0.resid_mid@1", "not a lens: target"),
    ("lens:L2.resid_pre@0", "not a logit lens row"),
    ("lens:L0.resid_post@0", "not a logit lens row"),
    ("lens:L0.resid_pre@99", "out of range"),
    ("sweep:head_out:L1.H4", "unknown head 4"),
    ("sweep:head_out:L2.H0", "unknown layer 2"),
    ("sweep:head_out:L1@3", "written like L3.H2"),
    ("sweep:resid_pre:L1.H2", "written like L3@5"),
    ("sweep:resid_pre:L1", "written like L3@5"),
    ("sweep:head_out_by_pos:L1.H2", "written like L3.H2@5"),
    ("sweep:resid_pre:L1@99", "out of range"),
    ("sweep:nope:L1.H2", "no sweep 'nope'"),
    ("sweep:head_out:L1.H3\n", "not a sweep: target"),
    ("sweep:head_out:L1.H\u0663", "not a sweep: target"),
    ("sweep:head_out", "not a sweep: target"),
    ("x" * 201, "at most 200 characters"),
]


def test_every_target_form_is_accepted_and_listed(session: Session) -> None:
    for i, target in enumerate(ACCEPTED):
        session.note(target, f"note {i}")
    assert session.notes == {t: f"note {i}" for i, t in enumerate(ACCEPTED)}


@pytest.mark.parametrize(("target", "needle"), REFUSED)
def test_refused_targets_leave_the_state_as_it_was(
    session: Session, target: str, needle: str
) -> None:
    session.note("L0.H1", "kept")
    before = (session.version, session.state.model_dump())
    for write in (session.note, session.set_note):
        with pytest.raises(TranspectorError, match="cannot note") as error:
            write(target, "text")
        assert needle in str(error.value)
        assert TARGET_FORMS in str(error.value)
        assert (session.version, session.state.model_dump()) == before


def test_bad_text_and_types_are_refused(session: Session) -> None:
    before = session.state.model_dump()
    for target, text, needle in [
        ("L0.H1", "a \ud800", "lone"),
        ("L0.H1", "x" * 10_001, "at most 10000"),
        (3, "x", "note\\(target: str"),
        ("L0.H1", None, "note\\(target: str"),
    ]:
        with pytest.raises(TranspectorError, match=needle):
            session.note(target, text)  # type: ignore[arg-type]
    assert session.state.model_dump() == before


def test_empty_text_removes_a_note_and_set_note_is_note(session: Session) -> None:
    seen: list[dict[str, Any]] = []
    session.subscribe(seen.append)
    session.note("pos:1", "**the subject**")
    session.set_note("lens:L1.resid_pre@-1", "Paris shows up here")
    assert session.notes == {
        "pos:1": "**the subject**",
        "lens:L1.resid_pre@-1": "Paris shows up here",
    }
    session.note("pos:1", "")
    session.note("pos:2", "")  # removing a note that is not there is still one change
    assert session.notes == {"lens:L1.resid_pre@-1": "Paris shows up here"}
    assert [c["op"] for c in seen] == ["set_note"] * 4
    assert seen[0] == {"op": "set_note", "version": seen[0]["version"], "node": "pos:1",
                       "text": "**the subject**"}  # fmt: skip
    assert Session.set_note is Session.note


def test_code_compiles_with_notes(session: Session) -> None:
    session.ablate("L0.H1")
    for target in ACCEPTED:
        session.note(target, "\"\"\"\n''' # not code\n\\x00 `x` **bold**")
    code = session.code()
    compile(code, "<session.code()>", "exec")
    assert "not code" not in code  # notes are the canvas's, not part of the run


def test_notes_survive_the_state_file_and_save_load(tiny_model: Any, tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    first = Session(tiny_model, state_file=path)
    notes = {"L1.H3": "- copy head?\n- **check** L0", "pos:1": "subject", "L0.mlp.N5": "x",
             "lens:L1.resid_post@-1": "answer", "sweep:resid_pre:L1@2": "restores"}  # fmt: skip
    for target, text in notes.items():
        first.note(target, text)
    assert json.loads(path.read_text())["notes"] == notes
    restarted = Session(tiny_model, state_file=path)
    assert restarted.restored and restarted.notes == notes
    first.save(tmp_path / "saved.json")
    other = Session(tiny_model)
    other.note("embed", "gone after load")
    other.load(tmp_path / "saved.json")
    assert other.notes == notes


def test_a_state_file_with_a_target_the_model_lacks_is_set_aside(
    tiny_model: Any, tmp_path: Path
) -> None:
    path = tmp_path / "state.json"
    first = Session(tiny_model, state_file=path)
    first.note("L1.H3", "fine")
    data = json.loads(path.read_text())
    data["notes"]["L7.H0"] = "from a bigger model"
    path.write_text(json.dumps(data))
    with pytest.warns(UserWarning, match="cannot note 'L7.H0'"):
        again = Session(tiny_model, state_file=path)
    assert not again.restored and again.notes == {}


def test_key_value_heads_count_for_k_and_v_sweeps(tmp_path: Path) -> None:
    """Under grouped-query attention the k and v sweeps' cells are key/value heads."""
    model = boot_tiny(tmp_path, n_key_value_heads=2, positional_embedding_type="rotary",
                      normalization_type="RMS")  # fmt: skip
    session = Session(model)
    session.note("sweep:k:L1.H1", "kv head 1")
    session.note("sweep:q:L1.H3", "query head 3")
    with pytest.raises(TranspectorError, match="layer 1 has 2 key/value heads"):
        session.note("sweep:v:L1.H2", "no such kv head")
    with pytest.raises(TranspectorError, match="unknown node"):
        session.note("pos_embed", "rotary: no positional embedding node")


def test_every_sweep_has_a_cell_form_that_matches_its_axes() -> None:
    sweeps = set(PatchingSweep.__args__)  # type: ignore[attr-defined]
    assert set(SWEEP_CELL_FORMS) == sweeps == set(LAYER_NODES) | set(HEAD_ROLES)
    for sweep, form in SWEEP_CELL_FORMS.items():
        assert (form != "head") == (sweep in BY_POSITION)
        assert (form == "layer_position") == (sweep in LAYER_NODES)
        cell = {"layer_position": "L1@2", "head": "L1.H2", "head_position": "L1.H2@2"}[form]
        parsed = parse_target(f"sweep:{sweep}:{cell}")
        assert (parsed.sweep, parsed.layer, parsed.position) == (
            sweep,
            1,
            None if form == "head" else 2,
        )


def test_the_set_note_op_takes_every_form_and_refuses_with_an_error(session: Session) -> None:
    """Over the wire (websocket or REST): the same targets, a refusal an ``invalid`` error that
    names the forms, with the state unchanged."""
    dispatcher = dispatch.Dispatcher(session)
    try:
        for target in ("lens:L1.resid_pre@-1", "sweep:resid_pre:L1@2", "pos:3", "L1.mlp.N7"):
            op = {"op": "set_note", "node": target, "text": "*x*", "request_id": "r1"}
            assert dispatcher.parse_and_apply(json.dumps(op), "client") == []
        before = (session.version, session.state.model_dump())
        for target in ("pos:3\n", "lens:L9.resid_pre@0", "x" * 201):
            op = {"op": "set_note", "node": target, "text": "y", "request_id": "r2"}
            (reply,) = dispatcher.parse_and_apply(json.dumps(op), "client")
            error = json.loads(reply.body)
            assert error["op"] == "error" and error["code"] == "invalid"
            assert error["request_id"] == "r2"
            assert "node" in error["message"] or "cannot note" in error["message"]
            assert (session.version, session.state.model_dump()) == before
    finally:
        dispatcher.close()
    assert set(session.notes) == {
        "lens:L1.resid_pre@-1",
        "sweep:resid_pre:L1@2",
        "pos:3",
        "L1.mlp.N7",
    }
