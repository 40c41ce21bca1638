"""The README's journeys: for each, the pictures the browser tests take of it, in order, with
their captions. ``screenshot`` copies a picture named here into docs/images/journeys/ as it takes
it, so every test run keeps the README's pictures current; tests/test_journeys.py checks that the
README shows exactly these."""

from __future__ import annotations

from pathlib import Path

FOLDER = Path(__file__).resolve().parents[2] / "docs" / "images" / "journeys"

JOURNEYS: dict[str, list[tuple[str, str]]] = {
    "Open": [
        ("lab-starter-and-panel", "`transpector lab`: the starter notebook run, the side panel"),
        ("canvas-smollm2-opened", "the canvas of SmolLM2 beside the notebook"),
    ],
    "Ablate": [
        ("canvas-smollm2-ablated", "a head zero-ablated with its button: the outputs change"),
        ("canvas-smollm2-interventions-cell", "the same ablation, read from a cell"),
    ],
    "Patch": [
        ("canvas-tiny-patch-drag", "a patch dragged from one node to another"),
        ("canvas-tiny-patched", "the patch taken: the node carries it"),
        ("canvas-smollm2-pair", "an IOI clean/corrupt pair and its metric"),
    ],
    "Sweep": [
        ("canvas-smollm2-patching", "a head-output patching sweep on the IOI pair"),
    ],
    "Trace": [
        ("canvas-smollm2-causal-trace", "causal tracing of a fact on SmolLM2"),
    ],
    "Neurons": [
        ("canvas-neurons", "an MLP's neurons: prompt activations, top windows, logit effects"),
    ],
    "Steer": [
        (
            "canvas-generation",
            "a steering vector added on the Generation card (the mean "
            "difference of two prompt sets at L10.resid_pre), clean and steered text side by side",
        ),
    ],
    "Deferred API": [
        ("deferred-cell", "an nnsight trace in a cell, on the session's model"),
    ],
    "Note and export": [
        ("canvas-note-editor", "a note written in a node's panel"),
        ("canvas-notes", "the Notes card, Markdown drawn by JupyterLab"),
        ("export-view", "the exported view, opened from disk in an offline browser"),
    ],
}

PICTURES = {name for pictures in JOURNEYS.values() for name, _ in pictures}
