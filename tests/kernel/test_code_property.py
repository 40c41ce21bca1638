"""Any state the session accepts writes code that compiles: random intervention specs (node ids
from the graph, neurons, near misses such as a trailing newline or non-ASCII digits, random
prompts and ids) are added through the session's one checked path; whatever it accepts,
``session.code()`` must compile, and what it refuses leaves the state unchanged."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from transpector.errors import TranspectorError
from transpector.kernel.session import Session
from transpector.protocol.interventions import Intervention

SPEC: TypeAdapter[Any] = TypeAdapter(Intervention)
NODES = ["L0.H1", "L1.H3", "L0.attn", "L1.mlp", "L0.mlp.N5", "L1.resid_pre", "L0.resid_mid",
         "L1.resid_post", "embed", "pos_embed"]  # fmt: skip
NEAR_MISSES = ["L0.H1\n", "L0.mlp.N5\n", "L0.mlp.N\u0665", "L\u0660.H1", " L0.H1", "L0.H1 ",
               "L0.mlp.N256", "L9.H0", "", "L0.H1\r", "unembed", "ln_final"]  # fmt: skip

nodes = st.sampled_from(NODES + NEAR_MISSES) | st.text(max_size=12)
prompts = st.sampled_from(["hello world", "hello wurld", "x"]) | st.text(max_size=16)
positions = st.none() | st.lists(st.integers(-4, 4), max_size=3)
ids = st.just("") | st.text(max_size=10)
specs = st.fixed_dictionaries(
    {"kind": st.sampled_from(["ablate", "isolate", "freeze", "patch"]), "node": nodes,
     "positions": positions, "id": ids},
    optional={"method": st.sampled_from(["zero", "mean", "resample"]),
              "seed": st.integers(-5, 2**64), "prompt": prompts, "source": nodes,
              "source_prompt": prompts},
)  # fmt: skip


@pytest.fixture(scope="module")
def property_session(tiny_model: Any) -> Session:
    session = Session(tiny_model)
    session.prompt = "hello world"
    session.reference_prompts = ["hello there", "hi world"]
    return session


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(batch=st.lists(specs, min_size=1, max_size=4))
def test_code_compiles_for_every_accepted_state(
    property_session: Session, batch: list[dict[str, Any]]
) -> None:
    session = property_session
    session.clear()
    for raw in batch:
        before = (session.version, session.state.model_dump())
        try:
            session.add(SPEC.validate_python(raw))
        except (ValidationError, TranspectorError):
            assert (session.version, session.state.model_dump()) == before
    code = session.code()
    compile(code, "<session.code()>", "exec")
    for spec in session.interventions:
        assert spec.node in NODES  # a near miss is never accepted


@pytest.mark.parametrize("node", NEAR_MISSES)
def test_a_near_miss_node_id_is_refused_and_changes_nothing(
    property_session: Session, node: str
) -> None:
    session = property_session
    session.clear()
    version = session.version
    with pytest.raises(TranspectorError, match=r"unknown node|interventions act on"):
        session.ablate(node)
    assert session.version == version and session.interventions == []
