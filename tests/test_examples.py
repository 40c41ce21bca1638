"""The replication notebooks in examples/ run top to bottom in a real kernel on the real default
model, and the results they print agree with what is known independently of the tools."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbclient import NotebookClient

from tests.conftest import REPO

# Heads known to be induction heads on SmolLM2-135M-Instruct.
KNOWN_INDUCTION_HEADS = {"L18.H6", "L17.H4", "L17.H3"}


def run_notebook(path: Path, cwd: Path) -> str:
    """Execute the notebook in a fresh python3 kernel; its whole stdout, cell after cell."""
    notebook = nbformat.read(path, as_version=4)  # type: ignore[no-untyped-call]
    env = dict(os.environ, HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1")
    client = NotebookClient(
        notebook,
        timeout=600,
        kernel_name="python3",
        resources={"metadata": {"path": str(cwd)}},
    )
    client.km = client.create_kernel_manager()
    client.start_new_kernel(env=env, cwd=str(cwd))
    client.start_new_kernel_client()
    client.execute(cleanup_kc=True)
    return "".join(
        output.get("text", "")
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.outputs
        if output.get("name") == "stdout"
    )


def results(stdout: str) -> dict[str, Any]:
    """The notebook's ``RESULT name json`` lines."""
    found: dict[str, Any] = {}
    for line in stdout.splitlines():
        if line.startswith("RESULT "):
            _, name, value = line.split(" ", 2)
            found[name] = json.loads(value)
    return found


@pytest.mark.default_model
def test_circuits_notebook(tmp_path: Path) -> None:
    stdout = run_notebook(REPO / "examples" / "circuits.ipynb", tmp_path)
    found = results(stdout)

    # IOI: the clean prompts favour the indirect object, the corrupt ones the other name, and
    # patching some head's clean output into the corrupt run restores a real part of it.
    assert found["ioi_mean_clean"] > 0 > found["ioi_mean_corrupt"], stdout
    ioi_top = found["ioi_top"]
    assert len(ioi_top) == 5
    assert all(value > 0.1 for _, value in ioi_top), ioi_top
    # Edge attribution (an estimate) agrees with real patching on a head that matters, and the
    # top 1,000 of the 44k edges run alone keep a real part of the logit difference.
    senders = {sender for sender, _, _ in found["ioi_top_edges"]}
    assert senders & {node for node, _ in ioi_top}, (senders, ioi_top)
    assert found["ioi_circuit_share"]["1000"] > 0.25, found["ioi_circuit_share"]

    # Induction: at least one known induction head is among the five found.
    induction_top = [node for node, _ in found["induction_top"]]
    assert len(induction_top) == 5
    assert KNOWN_INDUCTION_HEADS & set(induction_top), induction_top

    # Causal tracing: its clean probability is a plain forward's, and noising the subject
    # lowers it.
    assert found["trace_clean_prob"] == pytest.approx(found["plain_paris_prob"], abs=1e-4)
    assert found["trace_corrupted_prob"] < found["trace_clean_prob"]
    assert set(found["trace_peaks"]) >= {"resid_pre", "mlp_out"}
