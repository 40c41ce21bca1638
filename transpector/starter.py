"""The starter notebook `transpector lab` opens: load the model, run a prompt, show top tokens."""

from __future__ import annotations

import json
from pathlib import Path

STARTER_NAME = "transpector-start.ipynb"

INTRO = """# Transpector starter

This notebook loads the model that `transpector lab` was started with (by default the embedded
SmolLM2-135M-Instruct, offline), runs it on a prompt and prints the most likely next tokens.
The last cell attaches a Transpector session to the same model object. Open the
**Transpector** panel in the left sidebar to see the running kernels."""

LOAD = """import transpector

# The model chosen by `transpector lab --model/--device`; by default SmolLM2-135M-Instruct.
model = transpector.load_model()
c = model.cfg
print(f"{type(model).__name__}: {c.n_layers} layers, {c.n_heads} heads, d_model {c.d_model}")"""

RUN = """prompt = "The capital of France is"
logits = model(prompt)  # [batch, position, d_vocab]
probs = logits[0, -1].softmax(-1)
top = probs.topk(5)
for p, token_id in zip(top.values.tolist(), top.indices.tolist()):
    print(f"{model.tokenizer.decode([token_id])!r:>14}  {p:.3f}")"""

SESSION = """# The same live model as a Transpector session: versioned state, interventions as data.
# Its state (prompts, pairs, metric, interventions, notes) is kept in a file beside this
# notebook, so a kernel restart and this cell bring it back.
session = transpector.attach(model, state_file="transpector-start.state.json")
if not session.restored:
    session.prompt = prompt
last_mlp = f"L{model.cfg.n_layers - 1}.mlp"
ablation = session.ablate(last_mlp)  # zero-ablation, applied only inside session runs
result = session.run(top_k=3)
print(f"{last_mlp} ablated:", [(t.token, round(t.prob, 3)) for t in result.top_k[-1]])
session.remove(ablation.id)
print("logit lens, last position:", [row[-1] for row in result.logit_lens.tokens[-4:]])"""


def write_starter(folder: Path) -> Path:
    """Write the starter notebook into ``folder`` unless one is there (the user's edits win)."""
    path = folder / STARTER_NAME
    if not path.exists():
        path.write_text(json.dumps(_notebook(), indent=1))
    return path


def _cell(cell_id: str, cell_type: str, source: str) -> dict[str, object]:
    cell: dict[str, object] = {
        "id": cell_id,
        "cell_type": cell_type,
        "metadata": {},
        "source": source,
    }
    if cell_type == "code":
        cell.update(execution_count=None, outputs=[])
    return cell


def _notebook() -> dict[str, object]:
    return {
        "cells": [
            _cell("intro", "markdown", INTRO),
            _cell("load", "code", LOAD),
            _cell("run", "code", RUN),
            _cell("session", "code", SESSION),
        ],
        "metadata": {
            "kernelspec": {
                "name": "python3",
                "display_name": "Python 3 (ipykernel)",
                "language": "python",
            },
            "language_info": {"name": "python"},
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }
