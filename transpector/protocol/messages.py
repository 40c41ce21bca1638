"""Websocket messages, tagged by ``op``; REST bodies reuse the same models.

Text frames carry JSON ``{"op": ..., "v": PROTOCOL_VERSION, ...}``. Tensors travel as binary
frames: a 4-byte little-endian header length, a JSON ``NodeDataHeader``, then raw little-endian
bytes of ``dtype`` in row-major order.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from transpector.protocol.interventions import Intervention
from transpector.protocol.run import LogitLens, TokenProb
from transpector.protocol.state import SessionState

PROTOCOL_VERSION = 1
TensorDtype = Literal["float16", "float32"]
NodeDataKind = Literal["pattern", "activation", "norm"]


class _Message(BaseModel):
    model_config = ConfigDict(extra="forbid")

    v: int = PROTOCOL_VERSION


class _Request(_Message):
    request_id: str = Field(default="", max_length=64)


# ---- client -> server ---------------------------------------------------------------------------
class SetPrompt(_Request):
    op: Literal["set_prompt"] = "set_prompt"
    prompt: str


class SetPrompts(_Request):
    op: Literal["set_prompts"] = "set_prompts"
    prompts: list[str]


class SelectPrompt(_Request):
    op: Literal["select_prompt"] = "select_prompt"
    index: int


class SetReference(_Request):
    op: Literal["set_reference"] = "set_reference"
    prompts: list[str]


class AddIntervention(_Request):
    """The server gives the intervention its id; any id sent is replaced."""

    op: Literal["add_intervention"] = "add_intervention"
    intervention: Intervention


class RemoveIntervention(_Request):
    op: Literal["remove_intervention"] = "remove_intervention"
    id: str


class ClearInterventions(_Request):
    op: Literal["clear_interventions"] = "clear_interventions"


class SetNote(_Request):
    op: Literal["set_note"] = "set_note"
    node: str
    text: str = Field(max_length=10_000)


class Run(_Request):
    op: Literal["run"] = "run"
    top_k: int = Field(default=10, ge=1, le=100)
    lens: bool = True


class RunBatch(_Request):
    """Run every prompt of the session, one by one, with progress; cancel with its task id."""

    op: Literal["run_batch"] = "run_batch"


class RequestNodeData(_Request):
    op: Literal["node_data"] = "node_data"
    node: str
    what: NodeDataKind | None = None
    dtype: TensorDtype = "float32"


class RequestLensTopK(_Request):
    """One logit-lens cell's top-k: ``layer`` is a lens row (``L3.resid_pre``)."""

    op: Literal["lens_top_k"] = "lens_top_k"
    layer: str
    position: int
    k: int = Field(default=10, ge=1, le=100)


class Cancel(_Request):
    op: Literal["cancel"] = "cancel"
    task_id: str


class Ping(_Request):
    op: Literal["ping"] = "ping"


ClientMessage = Annotated[
    SetPrompt
    | SetPrompts
    | SelectPrompt
    | SetReference
    | AddIntervention
    | RemoveIntervention
    | ClearInterventions
    | SetNote
    | Run
    | RunBatch
    | RequestNodeData
    | RequestLensTopK
    | Cancel
    | Ping,
    Field(discriminator="op"),
]


# ---- server -> client ---------------------------------------------------------------------------
class StateMessage(_Message):
    """Sent on connect: the whole state and its version."""

    op: Literal["state"] = "state"
    version: int
    state: SessionState
    client_id: str


class Changed(_Message):
    """An accepted change, sent to every client (its sender included) with the new state."""

    op: Literal["changed"] = "changed"
    version: int
    cause: str  # the operation, e.g. "set_prompt"
    by: str  # a client id, or "python" for a notebook cell
    request_id: str = ""
    detail: dict[str, Any] = Field(default_factory=dict)
    state: SessionState


class RunSummary(_Message):
    """What the canvas draws after a run: never full logits or caches."""

    op: Literal["run_summary"] = "run_summary"
    version: int
    request_id: str = ""
    prompt: str
    tokens: list[str]
    token_ids: list[int]
    top_k: list[list[TokenProb]]
    loss: list[float]
    logit_lens: LogitLens | None
    head_dla: list[list[float]]
    dla_token: TokenProb
    logits_shape: list[int]


class BatchRow(BaseModel):
    prompt: str
    n_tokens: int
    mean_loss: float
    top_token: TokenProb  # the most likely next token after the prompt


class BatchSummary(_Message):
    op: Literal["batch_summary"] = "batch_summary"
    task_id: str
    request_id: str = ""
    version: int
    rows: list[BatchRow]
    complete: bool  # False when cancelled part way


class Progress(_Message):
    op: Literal["progress"] = "progress"
    task_id: str
    done: int
    total: int
    label: str = ""


class NodeDataHeader(_Message):
    op: Literal["node_data"] = "node_data"
    request_id: str = ""
    node: str
    what: NodeDataKind
    dtype: TensorDtype
    shape: list[int]


class LensTopK(_Message):
    """The answer to ``lens_top_k``, for the state ``version`` it was computed at."""

    op: Literal["lens_top_k"] = "lens_top_k"
    request_id: str = ""
    version: int
    layer: str
    position: int
    top_k: list[TokenProb]


class ErrorMessage(_Message):
    op: Literal["error"] = "error"
    code: Literal[
        "bad_request", "unknown_op", "too_large", "invalid", "cancelled", "unavailable", "internal"
    ]
    message: str
    request_id: str = ""


class Pong(_Message):
    op: Literal["pong"] = "pong"
    request_id: str = ""


ServerMessage = Annotated[
    StateMessage
    | Changed
    | RunSummary
    | BatchSummary
    | Progress
    | NodeDataHeader
    | LensTopK
    | ErrorMessage
    | Pong,
    Field(discriminator="op"),
]
