"""Saved experiments: what a save keeps, a restore that gives the saved metric back (checked
against plain hooks), refusals that change nothing (a taken name, another model's or other
weights' experiment, bad names), a diff that lists exactly the interventions that differ, and
experiments that survive the state file (a kernel restart) and an import."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from tests.conftest import boot_tiny
from transpector import TranspectorError
from transpector.kernel import dispatch
from transpector.kernel.session import Session
from transpector.kernel.weights_digest import weights_digest


def zeroed_mlp_top_prob(model, prompt: str, layer: int) -> float:  # type: ignore[no-untyped-def]
    """The clean run's top token's probability with L{layer}.mlp's output zeroed, by plain hooks."""
    tokens = model.to_tokens(prompt)
    with torch.no_grad():
        top = int(model(tokens)[0, -1].argmax())

    def zero(act: torch.Tensor, hook: object) -> torch.Tensor:
        return torch.zeros_like(act)

    with torch.no_grad(), model.hooks(fwd_hooks=[(f"blocks.{layer}.hook_mlp_out", zero)]):
        probs = model(tokens)[0, -1].softmax(-1)
    return float(probs[top])


def test_a_restored_experiment_gives_the_metric_it_was_saved_with(session: Session) -> None:
    session.ablate("L1.mlp")
    session.note("L0.H1", "looks at the first token")
    session.call("logit_lens")
    info = session.save_experiment("mlp off")
    expected = zeroed_mlp_top_prob(session.model, "hello world", 1)
    assert info.metric is not None and info.metric.value == pytest.approx(expected, abs=1e-5)
    assert info.n_interventions == 1 and info.model_name == session.graph.model_name
    assert info.weights == weights_digest(session.model)
    saved = session.experiments["mlp off"]
    assert [t.tool for t in saved.tools] == ["logit_lens"] and saved.tools[0].result is not None
    assert [i.name for i in session.state.experiments] == ["mlp off"]

    session.clear()
    session.prompt = "another prompt"
    session.note("L0.H1", "")
    session.restore_experiment("mlp off")
    assert session.prompt == "hello world" and session.notes == {
        "L0.H1": "looks at the first token"
    }
    restored = session.call("metric").metric  # type: ignore[attr-defined]
    assert restored.value == pytest.approx(info.metric.value, abs=1e-6)


def test_a_taken_name_is_refused_unless_overwrite(session: Session) -> None:
    session.save_experiment("first")
    version = session.version
    with pytest.raises(TranspectorError, match="an experiment named 'first' exists"):
        session.save_experiment("first")
    assert session.version == version
    session.ablate("L0.H2")
    session.save_experiment("first", overwrite=True)
    assert session.experiments["first"].n_interventions == 1
    assert [i.name for i in session.state.experiments] == ["first"]


@pytest.mark.parametrize(
    ("name", "message"),
    [("", "at least 1 character"), ("   ", "should match pattern"),
     ("tab\there", "should match pattern"), ("x" * 81, "at most 80 characters"), (3, "string")],
)  # fmt: skip
def test_bad_names_are_refused_and_nothing_changes(
    session: Session, name: object, message: str
) -> None:
    version = session.version
    with pytest.raises(TranspectorError, match=message):
        session.save_experiment(name)  # type: ignore[arg-type]
    assert session.version == version and session.experiments == {}


def test_restoring_onto_other_weights_or_another_model_is_refused(
    session: Session, tmp_path: Path
) -> None:
    session.ablate("L0.mlp")
    session.save_experiment("on seed 0")
    body = session.experiments["on seed 0"]
    other = Session(boot_tiny(tmp_path, seed=1))
    other.import_experiments([body])
    version, state = other.version, other.state
    with pytest.raises(TranspectorError, match=r"saved on other weights .* nothing was restored"):
        other.restore_experiment("on seed 0")
    assert other.version == version and other.state == state

    renamed = body.model_copy(update={"name": "elsewhere", "model_name": "gpt2"})
    session.import_experiments([renamed])
    with pytest.raises(TranspectorError, match="saved on model 'gpt2'"):
        session.restore_experiment("elsewhere")
    with pytest.raises(TranspectorError, match="no experiment named 'nope'"):
        session.restore_experiment("nope")


def test_the_diff_lists_exactly_the_interventions_that_differ(session: Session) -> None:
    shared = session.ablate("L0.H1")
    session.ablate("L1.mlp")
    session.ablate("L0.H3")
    session.save_experiment("a")
    session.clear()
    session.ablate("L0.H3")  # same as in a, another id
    session.ablate("L0.H1")
    session.ablate("L1.H0")
    session.ablate("L1.H0")  # twice: once more than in a
    session.note("pos:1", "second token")
    session.save_experiment("b")

    diff = session.diff_experiments("a", "b")
    assert [(i.kind, i.node) for i in diff.only_in_a] == [("ablate", "L1.mlp")]
    assert [(i.kind, i.node) for i in diff.only_in_b] == [("ablate", "L1.H0")] * 2
    assert diff.other_fields == ["notes"]
    assert diff.metric_a == session.experiments["a"].metric
    assert shared.node == "L0.H1"
    same = session.diff_experiments("a", "a")
    assert same.only_in_a == same.only_in_b == [] and same.other_fields == []


def test_experiments_survive_the_state_file_and_load(tiny_model, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "state.json"
    first = Session(tiny_model, state_file=path)
    first.prompt = "hello world"
    first.ablate("L1.H2")
    first.save_experiment("kept")
    assert "saved_experiments" in json.loads(path.read_text())

    again = Session(tiny_model, state_file=path)  # a restarted kernel
    assert again.restored and list(again.experiments) == ["kept"]
    assert again.experiments["kept"] == first.experiments["kept"]
    assert [i.name for i in again.state.experiments] == ["kept"]
    again.delete_experiment("kept")
    assert Session(tiny_model, state_file=path).experiments == {}

    fresh = Session(tiny_model)
    first.save(tmp_path / "copy.json")
    fresh.load(tmp_path / "copy.json")
    assert list(fresh.experiments) == ["kept"]


def test_import_keeps_taken_names_and_refuses_bodies_that_do_not_parse(session: Session) -> None:
    session.save_experiment("x")
    body = session.experiments["x"].model_dump()
    assert session.import_experiments([body, {**body, "name": "y"}]) == ["y"]
    version = session.version
    with pytest.raises(TranspectorError, match="an experiment"):
        session.import_experiments([{**body, "name": "z", "weights": 5}])
    assert session.version == version and list(session.experiments) == ["x", "y"]


def test_the_ops_save_restore_and_refuse_over_the_dispatcher(session: Session) -> None:
    hub = dispatch.Dispatcher(session)
    client = hub.connect()
    save = json.dumps({"op": "save_experiment", "name": "via op", "request_id": "r1"})
    assert hub.parse_and_apply(save, client.id) == []
    again = hub.parse_and_apply(save, client.id)
    error = json.loads(again[0].body)
    assert again[0].status == 400 and "exists" in error["message"] and error["request_id"] == "r1"
    bad = hub.parse_and_apply(json.dumps({"op": "restore_experiment", "name": ""}), client.id)
    assert bad[0].status == 400
    session.ablate("L0.H0")
    restore = json.dumps({"op": "restore_experiment", "name": "via op"})
    assert hub.parse_and_apply(restore, client.id) == [] and session.interventions == []
    hub.close()
