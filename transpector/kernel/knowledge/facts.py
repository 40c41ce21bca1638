"""What a rank-one knowledge edit is: the fact, the MLP it edits, and the edit itself."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Fact:
    prompt: str
    subject: str
    target: str


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
