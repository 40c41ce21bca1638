"""Websocket messages, tagged by ``op``; REST bodies reuse the same models.

Text frames carry JSON ``{"op": ..., "v": PROTOCOL_VERSION, ...}``. Tensors travel as binary
frames: a 4-byte little-endian header length, a JSON ``NodeDataHeader``, then raw little-endian
bytes of ``dtype`` in row-major order.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from transpector.protocol.experiments import Experiment
from transpector.protocol.graph import NodeDataKind
from transpector.protocol.interventions import Intervention
from transpector.protocol.metric import Metric, MetricValue, PromptPair
from transpector.protocol.notes import MAX_NOTE_LENGTH, MAX_TARGET_LENGTH
from transpector.protocol.outputs import TokenProb
from transpector.protocol.placement import MoveModel, Placed
from transpector.protocol.state import ExperimentName, SessionState
from transpector.protocol.version import PROTOCOL_VERSION as PROTOCOL_VERSION

# A client's text frame, counted in UTF-8 bytes: a larger one gets a ``too_large`` error and the
# connection stays (in the Jupyter proxy and the kernel app alike). Frames over
# MAX_TRANSPORT_BYTES close the connection with 1009 (message too big).
MAX_FRAME_BYTES = 1 << 20
MAX_TRANSPORT_BYTES = 64 << 20


def frame_bytes(frame: str | bytes) -> int:
    """A frame's size in bytes (text as UTF-8; a lone surrogate counts as its three bytes)."""
    return len(frame) if isinstance(frame, bytes) else len(frame.encode("utf-8", "surrogatepass"))


def too_large(frame: str | bytes) -> str | None:
    """The ``too_large`` message for a frame over MAX_FRAME_BYTES, else None."""
    size = frame_bytes(frame)
    if size <= MAX_FRAME_BYTES:
        return None
    return f"a frame of {size} bytes: the limit is {MAX_FRAME_BYTES} bytes (UTF-8)"


TensorDtype = Literal["float16", "float32"]


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


class AddInterventions(_Request):
    """Several interventions in one change (one version, one run); all or none are added."""

    op: Literal["add_interventions"] = "add_interventions"
    interventions: list[Intervention] = Field(min_length=1, max_length=10_000)


class SetPairs(_Request):
    op: Literal["set_pairs"] = "set_pairs"
    pairs: list[PromptPair] = Field(max_length=1000)


class SetMetric(_Request):
    op: Literal["set_metric"] = "set_metric"
    metric: Metric


class RemoveIntervention(_Request):
    op: Literal["remove_intervention"] = "remove_intervention"
    id: str


class ClearInterventions(_Request):
    op: Literal["clear_interventions"] = "clear_interventions"


class SetNote(_Request):
    """Write the note on a target (Markdown); empty text removes it."""

    op: Literal["set_note"] = "set_note"
    node: str = Field(
        max_length=MAX_TARGET_LENGTH,
        description="The note's target: a node id, pos:P, lens:ROW@P or sweep:KIND:CELL "
        "(transpector.protocol.notes)",
    )
    text: str = Field(max_length=MAX_NOTE_LENGTH)


class SaveExperiment(_Request):
    """Save the state, the tools last run and their results as experiment ``name``; a name that
    is taken is refused unless ``overwrite``."""

    op: Literal["save_experiment"] = "save_experiment"
    name: ExperimentName
    overwrite: bool = False


class RestoreExperiment(_Request):
    """Make experiment ``name``'s state the session's (refused if it was saved on another model
    or other weights)."""

    op: Literal["restore_experiment"] = "restore_experiment"
    name: ExperimentName


class DeleteExperiment(_Request):
    op: Literal["delete_experiment"] = "delete_experiment"
    name: ExperimentName


class ImportExperiments(_Request):
    """Add saved experiments (e.g. from a notebook's metadata); names already taken are kept as
    they are, and the answer's ``detail`` lists what was added."""

    op: Literal["import_experiments"] = "import_experiments"
    experiments: list[Experiment] = Field(max_length=1000)


class Run(_Request):
    """Run now: the summary goes to every client, then (with ``lens``) the logit lens."""

    op: Literal["run"] = "run"
    top_k: int = Field(default=10, ge=1, le=100)
    lens: bool = True


class ToolCall(_Request):
    """Call a tool (see ``transpector.protocol.tools``) on the current prompt and state; the
    answer is a ``tool_result`` to the sender (long tools: ``progress`` to everyone first)."""

    op: Literal["tool_call"] = "tool_call"
    tool: str = Field(max_length=64)
    args: dict[str, Any] = Field(default_factory=dict)


class RequestNodeData(_Request):
    op: Literal["node_data"] = "node_data"
    node: str
    what: NodeDataKind | None = None
    dtype: TensorDtype = "float32"


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
    | AddInterventions
    | SetPairs
    | SetMetric
    | RemoveIntervention
    | ClearInterventions
    | SetNote
    | SaveExperiment
    | RestoreExperiment
    | DeleteExperiment
    | ImportExperiments
    | Run
    | ToolCall
    | RequestNodeData
    | Cancel
    | Ping
    | MoveModel,
    Field(discriminator="op"),
]


# ---- server -> client ---------------------------------------------------------------------------
class StateMessage(_Message):
    """Sent on connect: the whole state and its version."""

    op: Literal["state"] = "state"
    version: int
    state: SessionState
    client_id: str
    session_id: str = Field(
        default="",
        description="Changes when the session does (a restarted kernel, another model "
        "attached): everything a viewer derived from the old one is stale",
    )


class Changed(_Message):
    """An accepted change, sent to every client (its sender included) with the new state."""

    op: Literal["changed"] = "changed"
    version: int
    cause: str  # the operation, e.g. "set_prompt"
    by: str  # a client id, or "python" for a notebook cell
    request_id: str = ""
    detail: dict[str, Any] = Field(default_factory=dict)
    state: SessionState


class RunTiming(BaseModel):
    """How a run was computed: its forward's time, and whether it resumed from a cached prefix."""

    forward_ms: float
    resumed_from_layer: int | None = None
    note: str = Field(default="", description="Why the forward was full, when it was")


class RunSummary(_Message):
    """What the canvas draws after a run: never full logits or caches."""

    op: Literal["run_summary"] = "run_summary"
    version: int
    session_id: str = Field(default="", description="The session whose state version this is")
    request_id: str = ""
    prompt: str
    tokens: list[str]
    token_ids: list[int]
    top_k: list[list[TokenProb]]
    clean_probs: list[list[float]] | None = None
    loss: list[float]
    head_dla: list[list[float]]
    dla_token: TokenProb
    dla_label: str = ""
    metric: MetricValue
    logits_shape: list[int]
    timing: RunTiming


class ToolResult(_Message):
    """A tool's answer, for the state ``version`` it was computed at (``after_run`` tools are
    sent to every client after each run summary, with an empty request id)."""

    op: Literal["tool_result"] = "tool_result"
    tool: str
    request_id: str = ""
    task_id: str = ""
    version: int
    result: dict[str, Any]


class Progress(_Message):
    """Long work under way: ``cancel`` with ``task_id`` stops it."""

    op: Literal["progress"] = "progress"
    task_id: str
    tool: str = ""
    request_id: str = ""
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


# "unreachable": the Jupyter server cannot reach this kernel's app (a kernel on another host,
# behind a gateway); the canvas then talks to the kernel over its own comm channel.
ErrorCode = Literal[
    "bad_request", "unknown_op", "too_large", "invalid", "cancelled", "unavailable", "internal",
    "not_found", "forbidden", "unreachable",
]  # fmt: skip


class ErrorMessage(_Message):
    op: Literal["error"] = "error"
    code: ErrorCode
    message: str
    request_id: str = ""


def error_frame(code: ErrorCode, message: str, request_id: str = "") -> str:
    """The one place error frames are built (websocket and REST bodies alike)."""
    return ErrorMessage(code=code, message=message, request_id=request_id).model_dump_json()


class Pong(_Message):
    op: Literal["pong"] = "pong"
    request_id: str = ""


ServerMessage = Annotated[
    StateMessage
    | Changed
    | RunSummary
    | ToolResult
    | Progress
    | NodeDataHeader
    | ErrorMessage
    | Pong
    | Placed,
    Field(discriminator="op"),
]
