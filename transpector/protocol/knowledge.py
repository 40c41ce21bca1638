"""Knowledge editing: ``knowledge_edit`` computes a rank-one edit (ROME) of one MLP so that a
prompt about a subject continues with a new target, and reports what it does.

The edit is computed on the model without the session's interventions: the MLP's keys (its
hidden activation) at the subject's last token, behind a few short prefixes; a vector added to
the MLP's output there, optimized so the prompts continue with the target; the keys' second
moment over a dataset (scanned once per weights, dataset and layer, cached on disk). The report
runs each prompt on the clean model and with this edit alone. It does not change the state:
``spec`` is the intervention that applies the edit (``session.edit_fact`` adds it; the canvas
card's *Apply*).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from transpector.protocol.datasets import DatasetInfo, DatasetSpec
from transpector.protocol.interventions import KEY_WINDOWS, EditFact

Prompts = list[str]


class KnowledgeEditArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    node: str = Field(pattern=r"^L\d+\.mlp$", max_length=32, description="The MLP to edit")
    text: str = Field(
        min_length=1,
        max_length=2000,
        description="The prompt of the fact, e.g. 'The Eiffel Tower is in the city of'",
    )
    subject: str = Field(min_length=1, max_length=500, description="A part of the text")
    target: str = Field(min_length=1, max_length=200, description="The new continuation")
    paraphrases: Prompts = Field(
        default_factory=list, max_length=20, description="Other prompts that should now say it"
    )
    unrelated: Prompts = Field(
        default_factory=list, max_length=20, description="Prompts whose top-1 should not change"
    )
    dataset: DatasetSpec | None = Field(
        default=None, description="For the keys' statistics; default: the session's dataset"
    )
    key_windows: int = Field(
        default=KEY_WINDOWS,
        ge=1,
        le=1_000_000,
        description="Of the dataset's windows, the first this many give the keys' statistics",
    )


class EditCheck(BaseModel):
    prompt: str
    role: Literal["edited", "paraphrase", "unrelated"]
    top_before: str = Field(description="The clean model's most likely next token")
    top_after: str = Field(description="With the edit")
    target_before: float = Field(description="The target's first token's probability, clean")
    target_after: float = Field(description="... with the edit")


class KnowledgeEditResult(BaseModel):
    node: str
    target_tokens: list[str]
    subject_position: int = Field(description="The subject's last token in the prompt")
    loss: float = Field(description="The target's mean loss on the edit's prompts at the end")
    steps: int = Field(description="Optimization steps taken")
    dataset: DatasetInfo = Field(description="Where the keys' statistics come from")
    checks: list[EditCheck]
    spec: EditFact = Field(description="The intervention that applies this edit")
