"""What a rank-one knowledge edit is: the fact, the MLP it edits, and the edit itself."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from transpector.protocol.interventions import KEY_WINDOWS


@dataclass(frozen=True)
class Fact:
    prompt: str
    subject: str
    target: str
    dataset: str = ""  # where the keys' statistics come from: a DatasetSpec's JSON, "": the corpus
    key_windows: int = KEY_WINDOWS  # of its windows, the first this many


@dataclass(frozen=True)
class Mlp:
    """An MLP's hooks: its keys (hidden activation) and its output."""

    keys: str  # [batch, pos, d_mlp]
    out: str  # [batch, pos, d_model]


@dataclass(frozen=True)
class RankOne:
    """The edit: the MLP's output gains ``(k · left) right`` for every key ``k``."""

    left: torch.Tensor  # [d_mlp]
    right: torch.Tensor  # [d_model]
    loss: float  # the target's mean loss when δ was found
    steps: int
