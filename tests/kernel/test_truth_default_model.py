"""Numbers a researcher sees on SmolLM2, reproduced independently from TL caches and weights."""

from __future__ import annotations

import random
from typing import Any

import pytest
import torch

from tests.kernel.dla_reference import decompose
from transpector.kernel.session import Session

pytestmark = pytest.mark.default_model
PROMPT = "The capital of France is"


@pytest.fixture
def session(default_model: Any) -> Session:
    s = Session(default_model)
    s.prompt = PROMPT
    return s


def test_top_prediction_and_final_lens_row(session: Session, default_model: Any) -> None:
    result = session.run(top_k=5)
    assert result.top_k[-1][0].token == " Paris"
    with torch.inference_mode():
        probs = default_model(default_model.to_tokens(PROMPT))[0].softmax(-1)
    lens = result.logit_lens
    assert lens is not None and len(lens.layers) == 31
    assert lens.token_ids[-1] == probs.argmax(-1).tolist()
    assert lens.probs[-1] == pytest.approx(probs.max(-1).values.tolist(), abs=1e-4)


def test_head_dla_plus_other_components_sums_to_the_final_logit(
    session: Session, default_model: Any
) -> None:
    final, parts, token = decompose(default_model, PROMPT)
    result = session.run()
    assert result.dla_token.id == token
    assert sum(parts.values()) == pytest.approx(final, abs=2e-3)
    for layer, row in enumerate(result.head_dla):
        for head, value in enumerate(row):
            assert value == pytest.approx(parts[f"L{layer}.H{head}"], abs=1e-4)


def test_head_dla_on_a_layernorm_model_with_biases(tiny_model: Any) -> None:
    session = Session(tiny_model)
    session.prompt = "hello world"
    final, parts, _ = decompose(tiny_model, "hello world")
    assert sum(parts.values()) == pytest.approx(final, abs=1e-4)
    assert {"pos_embed", "ln_final.b", "b_U", "L0.b_O"} <= set(parts)
    heads = [[parts[f"L{layer}.H{h}"] for h in range(4)] for layer in range(2)]
    assert session.run().head_dla == [pytest.approx(row, abs=1e-5) for row in heads]


def repeated_words_prompt(model: Any, n: int, seed: int) -> str:
    """n random single-token words, then the same n again: induction heads predict the repeat."""
    words = [
        " apple", " river", " stone", " cloud", " horse", " music", " table", " green", " paper",
        " bread", " chair", " light", " water", " money", " dream", " glass", " plant", " sugar",
        " train", " watch", " field", " smile", " voice", " heart", " night", " ocean", " tiger",
        " pencil", " garden", " window", " winter", " silver", " forest", " castle", " doctor",
    ]  # fmt: skip
    singles = [w for w in words if len(model.tokenizer.encode(w, add_special_tokens=False)) == 1]
    chosen = random.Random(seed).sample(singles, n)
    return "".join(chosen) * 2


def test_top_induction_heads_matter_far_more_than_random_heads(default_model: Any) -> None:
    n = 20
    prompt = repeated_words_prompt(default_model, n, seed=0)
    tokens = default_model.to_tokens(prompt)
    assert tokens.shape[1] == 2 * n + 1
    with torch.inference_mode():
        _, cache = default_model.run_with_cache(tokens, names_filter=lambda h: "hook_pattern" in h)
    # Induction score: attention from each token of the repeat to the token after its earlier copy.
    query = torch.arange(n + 1, 2 * n + 1)
    scores = {}
    for layer in range(default_model.cfg.n_layers):
        pattern = cache[f"blocks.{layer}.attn.hook_pattern"][0]  # [head, q, k]
        for head in range(default_model.cfg.n_heads):
            scores[(layer, head)] = float(pattern[head, query, query - n + 1].mean())
    top = sorted(scores, key=scores.__getitem__, reverse=True)[:3]
    rng = random.Random(1)
    controls = [
        (layer, rng.choice([h for h in range(9) if (layer, h) not in top])) for layer, _ in top
    ]

    def repeat_loss(heads: list[tuple[int, int]]) -> float:
        session = Session(default_model)
        session.prompt = prompt
        for layer, head in heads:
            session.ablate(f"L{layer}.H{head}")
        return sum(session.run(lens=False).loss[n:]) / n

    clean, induction, control = repeat_loss([]), repeat_loss(top), repeat_loss(controls)
    print(f"\ninduction heads {top} scores {[round(scores[h], 3) for h in top]}")
    print(f"repeat-half loss: clean {clean:.3f}, top-3 induction ablated {induction:.3f}, ")
    print(f"3 random heads of the same layers {controls} ablated {control:.3f}")
    assert scores[top[0]] > 0.3
    assert induction - clean > 3 * max(control - clean, 0.05)
