"""The session's metric, prompt pairs and clean-against-intervened outputs, each checked against
plain torch on the model (a forward with the session's hooks, or none)."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from tests.kernel.dla_reference import decompose
from transpector.errors import TranspectorError
from transpector.kernel import dispatch
from transpector.kernel.session import Session
from transpector.protocol.interventions import Ablate, Isolate
from transpector.protocol.metric import LogitDiff, PromptPair, TopProb


def last_logits(session: Session, model: Any, applied: bool) -> torch.Tensor:
    """The last position's logits from a plain forward, with the session's hooks or without."""
    tokens = model.to_tokens(session.prompt)
    with torch.inference_mode():
        if not applied:
            return model(tokens)[0, -1].float()
        with session.applied() as hooked:
            return hooked(tokens)[0, -1].float()


def test_the_default_metric_is_the_clean_top_tokens_probability(
    session: Session, tiny_model: Any
) -> None:
    assert session.metric == TopProb()
    clean = last_logits(session, tiny_model, applied=False)
    top = int(clean.argmax())
    before = session.run().metric
    assert before.value == pytest.approx(float(clean.softmax(-1)[top]), abs=1e-5)
    assert before.clean == before.value and before.tokens[0].id == top
    session.ablate("L1.mlp")
    session.ablate("L0.H2")
    after = session.run().metric
    now = last_logits(session, tiny_model, applied=True)
    assert after.tokens[0].id == top  # the clean run's top token, whatever tops now
    assert after.value == pytest.approx(float(now.softmax(-1)[top]), abs=1e-5)
    assert after.clean == pytest.approx(before.value, abs=1e-6)
    assert abs(after.value - after.clean) > 1e-4  # the ablation shows


def test_logit_difference_and_token_loss(session: Session, tiny_model: Any) -> None:
    a, b = (tiny_model.tokenizer.encode(t, add_special_tokens=False)[0] for t in ("a", "b"))
    session.set_metric("logit_diff", correct="a", wrong="b")
    assert session.metric == LogitDiff(correct="a", wrong="b")
    session.ablate("L1.H1")
    result = session.run().metric
    now, clean = (last_logits(session, tiny_model, applied) for applied in (True, False))
    assert result.value == pytest.approx(float(now[a] - now[b]), abs=1e-4)
    assert result.clean == pytest.approx(float(clean[a] - clean[b]), abs=1e-4)
    assert result.label == "logit('a') - logit('b')"
    session.set_metric("token_loss", token="a")
    result = session.run().metric
    assert result.value == pytest.approx(float(-now.log_softmax(-1)[a]), abs=1e-4)
    assert result.clean == pytest.approx(float(-clean.log_softmax(-1)[a]), abs=1e-4)


def test_a_metric_token_that_is_not_one_token_is_refused(session: Session) -> None:
    version = session.version
    with pytest.raises(TranspectorError, match="'ab' is 2 tokens"):
        session.set_metric("logit_diff", correct="ab", wrong="b")
    with pytest.raises(TranspectorError, match="metric"):
        session.set_metric("accuracy")
    with pytest.raises(TranspectorError, match="metric"):
        session.set_metric("token_loss")  # no token
    assert session.version == version and session.metric == TopProb()


def test_head_dla_attributes_to_the_metrics_logit_difference(
    session: Session, tiny_model: Any
) -> None:
    a, b = (tiny_model.tokenizer.encode(t, add_special_tokens=False)[0] for t in ("a", "b"))
    session.set_metric("logit_diff", correct="a", wrong="b")
    run = session.run()
    _, parts_a, _ = decompose(tiny_model, session.prompt, a)
    _, parts_b, _ = decompose(tiny_model, session.prompt, b)
    expected = [
        [parts_a[f"L{layer}.H{h}"] - parts_b[f"L{layer}.H{h}"] for h in range(4)]
        for layer in range(2)
    ]
    assert torch.allclose(torch.tensor(run.head_dla), torch.tensor(expected), atol=1e-4)
    assert run.dla_label == "logit('a') - logit('b')" and run.dla_token.id == a
    session.set_metric("token_loss", token="b")
    expected = [[parts_b[f"L{layer}.H{h}"] for h in range(4)] for layer in range(2)]
    assert torch.allclose(torch.tensor(session.run().head_dla), torch.tensor(expected), atol=1e-4)


def test_top_k_and_lens_carry_the_clean_values(session: Session, tiny_model: Any) -> None:
    assert session.run().clean_probs is None  # no interventions: nothing to compare
    session.ablate("L0.mlp")
    run = session.run()
    tokens = tiny_model.to_tokens(session.prompt)
    with torch.inference_mode():
        clean_probs = tiny_model(tokens)[0].float().softmax(-1)
    assert run.clean_probs is not None
    for position, row in enumerate(run.top_k):
        ids = [t.id for t in row]
        assert run.clean_probs[position] == pytest.approx(
            clean_probs[position, ids].tolist(), abs=1e-5
        )
    lens = run.logit_lens
    plain = Session(tiny_model)
    plain.prompt = session.prompt
    clean_lens = plain.run().logit_lens
    assert lens is not None and clean_lens is not None
    assert lens.clean_token_ids == clean_lens.token_ids
    assert torch.allclose(torch.tensor(lens.clean_probs), torch.tensor(clean_lens.probs), atol=1e-6)
    assert lens.token_ids != clean_lens.token_ids  # the ablation changed some cell


def test_pairs_need_one_token_count(session: Session) -> None:
    pair = session.add_pair("hello world", "hello there")
    assert session.pairs == [pair] == [PromptPair(clean="hello world", corrupt="hello there")]
    version = session.version
    with pytest.raises(TranspectorError, match="12 tokens and the corrupt one 13"):
        session.add_pair("hello world", "hello world!")
    with pytest.raises(TranspectorError, match="prompt is empty"):
        session.pairs = [("hello", "")]
    with pytest.raises(TranspectorError, match=r"a pair is \(clean, corrupt\)"):
        session.pairs = [("only one",)]  # type: ignore[list-item]
    assert session.version == version and session.pairs == [pair]
    session.pairs = []
    assert session.pairs == []


def test_add_many_is_one_change_and_all_or_nothing(session: Session) -> None:
    seen: list[dict[str, Any]] = []
    session.subscribe(seen.append)
    version = session.version
    added = session.add_many([Ablate(node="L0.H0"), Isolate(node="L1.H2")])
    assert session.version == version + 1 and [c["op"] for c in seen] == ["add_interventions"]
    assert [i.id for i in session.interventions] == [i.id for i in added] and all(
        i.id for i in added
    )
    with pytest.raises(TranspectorError, match=r"L9\.H0"):
        session.add_many([Ablate(node="L1.H0"), Ablate(node="L9.H0")])
    with pytest.raises(TranspectorError, match="needs reference prompts"):
        session.add_many([Ablate(node="L1.H0"), Ablate(node="L1.H1", method="mean")])
    assert session.version == version + 1 and len(session.interventions) == 2


def test_the_new_operations_over_the_websocket(session: Session) -> None:
    hub = dispatch.Dispatcher(session)
    ok = '{"op": "set_metric", "metric": {"kind": "logit_diff", "correct": "a", "wrong": "b"}}'
    assert hub.parse_and_apply(ok, "c1") == []
    assert session.metric == LogitDiff(correct="a", wrong="b")
    bad = '{"op": "set_metric", "metric": {"kind": "token_loss", "token": "abc"}}'
    (reply,) = hub.parse_and_apply(bad, "c1")
    assert reply.status == 400 and "'abc' is 3 tokens" in str(reply.body)
    pairs = '{"op": "set_pairs", "pairs": [{"clean": "ab", "corrupt": "abc"}]}'
    (reply,) = hub.parse_and_apply(pairs, "c1")
    assert "3 tokens and the corrupt one 4" in str(reply.body) and session.pairs == []
    many = '{"op": "add_interventions", "interventions": [{"kind": "ablate", "node": "L0.H1"}]}'
    assert hub.parse_and_apply(many, "c1") == [] and session.interventions[0].node == "L0.H1"
    assert session.metric == LogitDiff(correct="a", wrong="b")
