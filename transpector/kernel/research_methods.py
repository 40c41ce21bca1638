"""The Session's research state beside the prompt: the metric runs are scored by, the
clean/corrupt prompt pairs, and the notes. Each setter is one validated, versioned change."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from pydantic import TypeAdapter, ValidationError

from transpector.errors import TranspectorError, first_error
from transpector.kernel.adapter import ModelAdapter, check_text
from transpector.kernel.note_targets import check_note_target
from transpector.kernel.pairs import check_pair
from transpector.kernel.tools.metric import metric_texts
from transpector.protocol.graph import GraphSpec
from transpector.protocol.metric import Metric, PromptPair
from transpector.protocol.notes import MAX_NOTE_LENGTH
from transpector.protocol.state import SessionState

METRIC: TypeAdapter[Metric] = TypeAdapter(Metric)


class ResearchMethods:
    """Mixed into Session, which provides the state, the graph, tokens and the change path."""

    _state: SessionState
    _adapter: ModelAdapter
    graph: GraphSpec
    _tokens: Callable[[str], torch.Tensor]

    def _change(self, op: str, detail: dict[str, Any], **fields: Any) -> None:
        raise NotImplementedError

    @property
    def metric(self) -> Metric:
        """What runs are scored by (at the last position); see ``set_metric``."""
        return self._state.metric

    @metric.setter
    def metric(self, metric: Metric) -> None:
        for text in metric_texts(metric):
            self._adapter.single_token(text)  # one token each, or an error that says so
        self._change("set_metric", {"metric": metric.model_dump()}, metric=metric)

    def set_metric(self, kind: str = "top_prob", **tokens: str) -> Metric:
        """Score runs by ``"top_prob"`` (the clean run's top token's probability), ``"logit_diff"``
        (``correct=" Mary", wrong=" John"``) or ``"token_loss"`` (``token=" Paris"``)."""
        try:
            metric = METRIC.validate_python({"kind": kind, **tokens})
        except ValidationError as error:
            raise TranspectorError(f"metric: {first_error(error)}") from None
        self.metric = metric
        return metric

    @property
    def pairs(self) -> list[PromptPair]:
        """Clean/corrupt prompt pairs, each of one token count (patching lines positions up)."""
        return list(self._state.pairs)

    @pairs.setter
    def pairs(self, pairs: Sequence[PromptPair | tuple[str, str]]) -> None:
        checked = [check_pair(self._tokens, pair) for pair in pairs]
        dumped = [pair.model_dump() for pair in checked]
        self._change("set_pairs", {"pairs": dumped}, pairs=checked)

    def add_pair(self, clean: str, corrupt: str) -> PromptPair:
        pair = check_pair(self._tokens, (clean, corrupt))
        self.pairs = [*self._state.pairs, pair]
        return pair

    @property
    def notes(self) -> dict[str, str]:
        """Every note, target -> text (targets: ``transpector.protocol.notes``)."""
        return dict(self._state.notes)

    def note(self, target: str, text: str) -> None:
        """Write the note on ``target`` (Markdown; empty text removes it): a node id
        (``"L3.H2"``, ``"L3.mlp.N5"``, ``"embed"``), a token position (``"pos:5"``), a logit-lens
        cell (``"lens:L2.resid_pre@-1"``) or a patching sweep cell (``"sweep:head_out:L1.H3"``,
        ``"sweep:resid_pre:L1@5"``). A target the model does not have is refused."""
        if not isinstance(target, str) or not isinstance(text, str):
            raise TranspectorError("a note is note(target: str, text: str)")
        check_note_target(self.graph, target)
        check_text(text, "the note")
        if len(text) > MAX_NOTE_LENGTH:
            raise TranspectorError(f"the note is {len(text)} characters: at most {MAX_NOTE_LENGTH}")
        notes = dict(self._state.notes)
        if text:
            notes[target] = text
        else:
            notes.pop(target, None)
        self._change("set_note", {"node": target, "text": text}, notes=notes)

    set_note = note
