"""Text generation with the session's interventions applied (steering included).

``generation``: from ``text`` (empty: the session's prompt), ``max_new_tokens`` tokens, one
full forward per token (no key/value cache, so every intervention sees the whole sequence each
step). Temperature 0 takes the most likely token; above 0 draws from softmax(logits /
temperature), over the ``top_k`` most likely tokens when given, with a CPU ``torch.Generator``
seeded with ``seed`` (the same draws on any device). With ``compare``, the text is generated
twice with the same seed: without interventions (clean) and with them (steered). A token the
tokenizer ends text with stops a column early. Progress labels stream each column's text so far
as ``"clean: ..."`` / ``"steered: ..."``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from transpector.protocol.interventions import MAX_SEED

MAX_NEW_TOKENS = 4096


class GenerationArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str = Field(
        default="", max_length=100_000, description="Where generation starts; empty: the prompt"
    )
    max_new_tokens: int = Field(default=20, ge=1, le=MAX_NEW_TOKENS)
    temperature: float = Field(
        default=0.0, ge=0.0, le=100.0, allow_inf_nan=False, description="0: greedy"
    )
    top_k: int | None = Field(
        default=None, ge=1, le=10_000_000, description="Sample among the k most likely"
    )
    seed: int = Field(default=0, ge=0, le=MAX_SEED, description="Seeds the draws")
    compare: bool = Field(default=True, description="Also generate without the interventions")


class GeneratedText(BaseModel):
    text: str = Field(description="The new text, decoded as a whole")
    token_ids: list[int]
    tokens: list[str] = Field(description="Each new token as text")
    stopped: Literal["length", "end_of_text", "cancelled"]
    interventions: bool = Field(description="Whether the session's interventions were applied")


class GenerationResult(BaseModel):
    prompt: str
    seed: int
    temperature: float
    steered: GeneratedText
    clean: GeneratedText | None = Field(default=None, description="With compare: no interventions")
