"""`transpector serve`: the kernel app as a standalone HTTP activation server for scripts."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import torch

from tests.helpers import parse_frame


@pytest.fixture(scope="module")
def serving(tiny_llama_dir: Path) -> Iterator[tuple[str, str]]:
    process = subprocess.Popen(
        [sys.executable, "-m", "transpector.cli", "serve", "--model", str(tiny_llama_dir),
         "--device", "cpu", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=dict(os.environ, OMP_NUM_THREADS="1"),
    )  # fmt: skip
    assert process.stdout is not None
    lines = []
    for line in process.stdout:
        lines.append(line)
        if re.fullmatch(r"[\w-]{20,}\n", line):
            break
    text = "".join(lines)
    url = re.search(r"at (http://127\.0\.0\.1:\d+)/api/", text)
    assert url, text
    try:
        yield url.group(1), lines[-1].strip()
    finally:
        process.terminate()
        process.wait(20)


@pytest.fixture
def server(serving: tuple[str, str]) -> Iterator[tuple[str, str]]:
    """The module's server; the prompts it had are put back after the test, pass or fail."""
    url, token = serving
    client = httpx.Client(base_url=url, headers={"X-Transpector-Token": token}, timeout=60)
    before = client.get("/api/state").json()["state"]
    try:
        yield serving
    finally:
        for op in (
            {"op": "set_prompts", "prompts": before["prompts"]},
            {"op": "select_prompt", "index": before["active"]},
        ):
            client.post("/api/ops", json=op).raise_for_status()
        client.close()


def test_it_binds_loopback_and_requires_its_token(server: tuple[str, str]) -> None:
    url, token = server
    assert httpx.get(f"{url}/api/graph").status_code == 403
    graph = httpx.get(f"{url}/api/graph", headers={"X-Transpector-Token": token}).json()
    assert graph["n_layers"] == 2 and graph["n_kv_heads"] == 2
    bearer = httpx.get(f"{url}/api/state", headers={"Authorization": f"Bearer {token}"})
    assert bearer.status_code == 200


def test_loss_and_activations_match_transformers(
    server: tuple[str, str], tiny_llama_dir: Path
) -> None:
    from transformers import AutoModelForCausalLM

    url, token = server
    client = httpx.Client(base_url=url, headers={"X-Transpector-Token": token}, timeout=60)
    op = client.post("/api/ops", json={"op": "set_prompt", "prompt": "activation server"})
    assert op.status_code == 200 and op.json()["state"]["prompts"] == ["activation server"]
    summary = client.post("/api/run", json={"op": "run", "top_k": 3}).json()
    reference = AutoModelForCausalLM.from_pretrained(tiny_llama_dir, dtype=torch.float32)
    ids = torch.tensor([summary["token_ids"]])
    with torch.inference_mode():
        logits = reference(ids).logits[0]
    loss = torch.nn.functional.cross_entropy(logits[:-1], ids[0, 1:], reduction="none")
    assert summary["loss"] == pytest.approx(loss.tolist(), abs=1e-4)
    body = client.get("/api/nodes/L1.mlp.N5/data", params={"dtype": "float32"}).content
    frame = parse_frame(body)
    header = frame.header
    values = torch.frombuffer(bytearray(frame.data), dtype=torch.float32)
    captured = {}

    def keep_input(module: object, inputs: tuple[torch.Tensor], output: object) -> None:
        captured["x"] = inputs[0]

    hook = reference.model.layers[1].mlp.down_proj.register_forward_hook(keep_input)
    with torch.inference_mode():
        reference(ids)
    hook.remove()
    assert header["shape"] == [ids.shape[1]]
    assert torch.allclose(values, captured["x"][0, :, 5], atol=1e-5)


def test_bad_input_is_a_4xx_with_a_message(server: tuple[str, str]) -> None:
    url, token = server
    client = httpx.Client(base_url=url, headers={"X-Transpector-Token": token})
    unknown = client.get("/api/nodes/L7.H0/data")
    assert unknown.status_code == 400 and "unknown node" in unknown.json()["message"]
    assert client.post("/api/ops", content=b"{nope").status_code == 422
    too_long = client.post("/api/ops", json={"op": "set_prompt", "prompt": "x" * 500})
    assert too_long.status_code == 400 and "at most 128" in too_long.json()["message"]
