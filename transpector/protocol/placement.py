"""Where the model's weights are and in which dtype, and the operation that moves or casts them.

A move is long work on a big model: it sends ``progress`` (task ``move_model``) to every client,
``cancel`` with its task id puts the model back where it was, and the accepted move is a new
state version (every cached run of the old placement is dropped)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from transpector.protocol.version import PROTOCOL_VERSION

DTYPES = ("float32", "float16", "bfloat16")
MOVE_TASK = "move_model"  # the ``tool`` field of a move's progress messages


class Placement(BaseModel):
    """The live model's devices and dtype, and what it can be moved to."""

    model_config = ConfigDict(extra="forbid")

    device: str = Field(default="cpu", description="Where the embedding is (runs start there)")
    devices: list[str] = Field(
        default_factory=lambda: ["cpu"],
        description="Every device holding weights: several when device_map sharded the model",
    )
    dtype: str = Field(default="float32", description="The dtype of the floating-point weights")
    available: list[str] = Field(
        default_factory=lambda: ["cpu"], description="Devices the model can be moved to"
    )
    dtypes: list[str] = Field(default_factory=lambda: list(DTYPES))


class MoveModel(BaseModel):
    """Move the model to ``device`` and/or cast it to ``dtype`` (None: keep as is). The answer
    is the new ``Placement``, or an ``error`` with the model where it was."""

    model_config = ConfigDict(extra="forbid")

    op: Literal["move_model"] = "move_model"
    v: int = PROTOCOL_VERSION
    request_id: str = Field(default="", max_length=64)
    device: str | None = Field(default=None, max_length=64)
    dtype: str | None = Field(default=None, max_length=32)


class Placed(BaseModel):
    """The answer to a ``move_model``, to its sender: where the model is now."""

    model_config = ConfigDict(extra="forbid")

    op: Literal["placed"] = "placed"
    v: int = PROTOCOL_VERSION
    request_id: str = ""
    placement: Placement
