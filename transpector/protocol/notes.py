"""Note targets: what a note (``session.note(target, text)``, the ``set_note`` op) is about.

A target is one of these forms, matched whole (``re.fullmatch``: no trailing newline) with ASCII
digits only, numbers written without leading zeros (one spelling per target):

- a node id of the graph (DESIGN's ids): ``L3.H2``, ``L3.mlp``, ``L3.mlp.N5``, ``L0.ln1``,
  ``embed``, ``unembed``...
- ``pos:P``: a token position of the prompt (negative counts from the end): ``pos:5``, ``pos:-1``
- ``lens:ROW@P``: a logit-lens cell, a lens row and a position: ``lens:L20.resid_pre@-1``
- ``sweep:KIND:CELL``: a cell of an activation patching sweep of ``KIND`` (a ``PatchingSweep``):
  ``L{l}@{p}`` for resid_pre, attn_out and mlp_out (a layer and a position); ``L{l}.H{h}`` for
  head_out, head_pattern, q, k and v (under grouped-query attention, the k and v sweeps' ``H`` is
  a key/value head); ``L{l}.H{h}@{p}`` for head_out_by_pos. E.g. ``sweep:head_out:L23.H3``,
  ``sweep:resid_pre:L3@5``.

This module reads a target's form; whether it exists in a model (a layer, head, neuron, lens row
or position in range) is the kernel's check (``transpector.kernel.note_targets``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal, get_args

from transpector.protocol.patching import PatchingSweep

NoteTargetKind = Literal["node", "pos", "lens", "sweep"]
# How a sweep's cell is written, by the sweep's axes.
SweepCellForm = Literal["layer_position", "head", "head_position"]
SWEEP_CELL_FORMS: dict[str, SweepCellForm] = {
    "resid_pre": "layer_position",
    "attn_out": "layer_position",
    "mlp_out": "layer_position",
    "head_out": "head",
    "head_pattern": "head",
    "q": "head",
    "k": "head",
    "v": "head",
    "head_out_by_pos": "head_position",
}
MAX_TARGET_LENGTH = 200
MAX_NOTE_LENGTH = 10_000  # characters of one note's text
TARGET_FORMS = (
    "a node id (L0.H3, L1.mlp, L1.mlp.N5, L0.ln1, embed, unembed), pos:P (a token position), "
    "lens:ROW@P (a logit-lens cell, e.g. lens:L1.resid_pre@-1) or sweep:KIND:CELL (a patching "
    "sweep cell, e.g. sweep:head_out:L1.H3, sweep:resid_pre:L1@5, sweep:head_out_by_pos:L1.H3@5)"
)

_NAT = r"(0|[1-9][0-9]*)"  # ASCII digits, no leading zeros
_INT = r"(0|-?[1-9][0-9]*)"
POSITION = re.compile(rf"pos:{_INT}")
LENS = re.compile(rf"lens:(L{_NAT}\.resid_(?:pre|post))@{_INT}")
SWEEP = re.compile(rf"sweep:([a-z_]+):L{_NAT}(?:\.H{_NAT})?(?:@{_INT})?")
_PREFIXES = ("pos:", "lens:", "sweep:")


@dataclass(frozen=True)
class NoteTarget:
    """A target's parts: ``node`` for a node; ``position`` for pos, lens and positional sweep
    cells; ``row`` (e.g. ``L3.resid_pre``) and ``layer`` for a lens cell; ``sweep``, ``layer``
    and ``head`` for a sweep cell."""

    kind: NoteTargetKind
    text: str
    node: str | None = None
    position: int | None = None
    row: str | None = None
    sweep: str | None = None
    layer: int | None = None
    head: int | None = None


def parse_target(text: str) -> NoteTarget:
    """The parts of ``text``, or a ValueError saying why it is not a target's form. Any text
    that is not ``pos:``, ``lens:`` or ``sweep:`` is a node id (the kernel checks the graph)."""
    if not text:
        raise ValueError("empty target")
    if len(text) > MAX_TARGET_LENGTH:
        raise ValueError(f"a target is at most {MAX_TARGET_LENGTH} characters")
    if not text.startswith(_PREFIXES):
        return NoteTarget("node", text, node=text)
    if found := POSITION.fullmatch(text):
        return NoteTarget("pos", text, position=int(found.group(1)))
    if found := LENS.fullmatch(text):
        row, layer, position = found.groups()
        return NoteTarget("lens", text, row=row, layer=int(layer), position=int(position))
    if found := SWEEP.fullmatch(text):
        return _sweep(text, found)
    prefix = text.split(":", 1)[0]
    raise ValueError(f"not a {prefix}: target: {_FORM[prefix]}")


_FORM = {
    "pos": "write pos:P with P an integer (pos:5, pos:-1)",
    "lens": "write lens:L{layer}.resid_pre@P (or the last layer's resid_post)",
    "sweep": "write sweep:KIND:L{layer}@P, sweep:KIND:L{layer}.H{head} or "
    "sweep:head_out_by_pos:L{layer}.H{head}@P",
}


def _sweep(text: str, found: re.Match[str]) -> NoteTarget:
    sweep, layer, head, position = found.groups()
    if sweep not in get_args(PatchingSweep):
        raise ValueError(f"no sweep {sweep!r}: sweeps are {', '.join(get_args(PatchingSweep))}")
    form = SWEEP_CELL_FORMS[sweep]
    has_head, has_position = head is not None, position is not None
    wanted = {"layer_position": (False, True), "head": (True, False), "head_position": (True, True)}
    if (has_head, has_position) != wanted[form]:
        example = {"layer_position": "L3@5", "head": "L3.H2", "head_position": "L3.H2@5"}[form]
        raise ValueError(f"a {sweep} sweep cell is written like {example}")
    return NoteTarget(
        "sweep",
        text,
        sweep=sweep,
        layer=int(layer),
        head=None if head is None else int(head),
        position=None if position is None else int(position),
    )
