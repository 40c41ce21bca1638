"""Every analysis Transpector offers, as tools (see ``base.Tool``). ``TOOLS`` is the one list:
the websocket's ``tool_call``, the REST routes, ``session.call`` / ``session.tools`` and the
generic tests come from it. Its names match ``transpector.protocol.tools.CONTRACTS``."""

from __future__ import annotations

from transpector.errors import TranspectorError
from transpector.kernel.tools.attribution import ATTRIBUTION_PATCHING
from transpector.kernel.tools.base import Tool as Tool
from transpector.kernel.tools.batch import PROMPT_BATCH
from transpector.kernel.tools.edges import CIRCUIT, EDGE_ATTRIBUTION
from transpector.kernel.tools.generation import GENERATION
from transpector.kernel.tools.jacobian_lens import FIT_JACOBIAN_LENS
from transpector.kernel.tools.knowledge import KNOWLEDGE_EDIT
from transpector.kernel.tools.latents import LATENTS
from transpector.kernel.tools.lens import LENS_TOP_K, LOGIT_LENS
from transpector.kernel.tools.metric import METRIC
from transpector.kernel.tools.neurons import MLP_NEURONS, NEURON_VIEW
from transpector.kernel.tools.outputs import HEAD_DLA, LOSS, TOP_K
from transpector.kernel.tools.patching import ACTIVATION_PATCHING
from transpector.kernel.tools.positions import QK_POSITIONS
from transpector.kernel.tools.residual import RESIDUAL_STREAM
from transpector.kernel.tools.saved_run import SAVED_RUN
from transpector.kernel.tools.tracing import CAUSAL_TRACING
from transpector.kernel.tools.weights import HEAD_COMPOSITION, OV_COPYING

TOOLS: list[Tool] = [
    TOP_K, LOSS, HEAD_DLA, METRIC, LOGIT_LENS, LENS_TOP_K, PROMPT_BATCH, ACTIVATION_PATCHING,
    ATTRIBUTION_PATCHING, CAUSAL_TRACING, RESIDUAL_STREAM, HEAD_COMPOSITION, OV_COPYING,
    QK_POSITIONS, EDGE_ATTRIBUTION, CIRCUIT, MLP_NEURONS, NEURON_VIEW, GENERATION,
    LATENTS, FIT_JACOBIAN_LENS, KNOWLEDGE_EDIT, SAVED_RUN,
]  # fmt: skip
BY_NAME = {tool.name: tool for tool in TOOLS}
OUTPUTS = [tool for tool in TOOLS if tool.contract.when == "outputs"]
AFTER_RUN = [tool for tool in TOOLS if tool.contract.when == "after_run"]


def tool_named(name: str) -> Tool:
    tool = BY_NAME.get(name)
    if tool is None:
        raise TranspectorError(f"unknown tool '{name}'; tools are {', '.join(BY_NAME)}")
    return tool
