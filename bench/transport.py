"""Transport through the Jupyter server's proxy and over the kernel's comm, on SmolLM2 with 1
torch thread.

Starts a real Jupyter server (with the Transpector extension) and a kernel that attaches the
default model, then prints, measured in this one run:
  - no-op round trip (ping -> pong) through the proxy, p50 and p95 (target p50 <= 3 ms),
    straight to the kernel app, and over the kernel's comm (the path the canvas takes when the
    server cannot reach the app: a kernel behind a gateway; here over the kernel's own ZMQ
    channels, without a gateway's hop), each beside the proxy's;
  - bytes of the run summary for a 20-token prompt (target <= 64 KB);
  - time from a set_prompt op to its run summary, over a bare forward in the kernel, through
    the proxy and over the comm.

    python bench/transport.py
"""

from __future__ import annotations

import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

from websockets.sync.client import connect

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.results import figure
from tests.helpers import free_port, receive_text_until, receive_until
from tests.live_kernel import kernel_client, run_cell

PROMPT = "The capital of France is Paris, and the capital of Germany is Berlin. So the capital of"
ATTACH = """
import statistics, time, torch, transpector
torch.set_num_threads(1)
model = transpector.load_default_model(device="cpu")
session = transpector.attach(model)
tokens = model.to_tokens({prompt!r})
times = []
with torch.inference_mode():
    for _ in range(12):
        t = time.perf_counter(); model(tokens); times.append(time.perf_counter() - t)
session.prompt = {prompt!r}
runs = []
for _ in range(6):  # each a full forward and its outputs, as after a change (no kept run)
    session._contexts.clear()
    t = time.perf_counter(); session.run(lens=False); runs.append(time.perf_counter() - t)
print("BARE", statistics.median(times[2:]), tokens.shape[1], statistics.median(runs[1:]))
"""


def request(url: str, token: str, method: str = "GET", body: bytes | None = None) -> Any:
    req = urllib.request.Request(url, data=body, method=method)
    req.add_header("Authorization", f"token {token}")
    req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req, timeout=120) as response:
        return json.load(response)


def round_trips(ws: Any, n: int) -> list[float]:
    times = []
    for i in range(n):
        start = time.perf_counter()
        ws.send(json.dumps({"op": "ping", "request_id": str(i)}))
        receive_until(ws, "pong")
        times.append(time.perf_counter() - start)
    return times


class Comm:
    """The canvas's comm path, driven with jupyter_client: a comm to the `transpector` target."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.id = uuid.uuid4().hex
        opened = self._shell("comm_open", {"target_name": "transpector", "data": {}})
        while True:  # the open handled before the first message, as the canvas waits for it
            msg = client.get_iopub_msg(timeout=60)
            mine = msg["parent_header"].get("msg_id") == opened
            if mine and msg["content"].get("execution_state") == "idle":
                break
        self.send({"kind": "connect"})

    def _shell(self, kind: str, content: dict[str, Any]) -> str:
        msg = self.client.session.msg(kind, {"comm_id": self.id, **content})
        self.client.shell_channel.send(msg)
        return str(msg["header"]["msg_id"])

    def send(self, data: dict[str, Any]) -> None:
        self._shell("comm_msg", {"data": data})

    def op(self, message: dict[str, Any]) -> None:
        self.send({"kind": "op", "text": json.dumps(message)})

    def receive(self, op: str, timeout: float = 120) -> str:
        deadline = time.perf_counter() + timeout
        while True:
            msg = self.client.get_iopub_msg(timeout=max(deadline - time.perf_counter(), 0.01))
            if msg["msg_type"] != "comm_msg" or msg["content"]["comm_id"] != self.id:
                continue
            text = msg["content"]["data"].get("text")
            if text and json.loads(text)["op"] == op:
                return str(text)


def comm_round_trips(comm: Comm, n: int) -> list[float]:
    times = []
    for i in range(n):
        start = time.perf_counter()
        comm.op({"op": "ping", "request_id": str(i)})
        comm.receive("pong")
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    token, port = secrets.token_hex(16), free_port()
    base = f"http://127.0.0.1:{port}"
    env = dict(os.environ, OMP_NUM_THREADS="1", JUPYTER_TOKEN=token)
    with tempfile.TemporaryDirectory() as root:
        server = subprocess.Popen(
            [sys.executable, "-m", "jupyter_server", f"--port={port}", "--no-browser",
             f"--ServerApp.root_dir={root}", "--allow-root"],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            for _ in range(200):
                try:
                    request(f"{base}/api/status", token)
                    break
                except OSError:
                    time.sleep(0.1)
            kernel = request(f"{base}/api/kernels", token, "POST", b'{"name": "python3"}')
            runtime = Path(
                subprocess.check_output([sys.executable, "-m", "jupyter", "--runtime-dir"])
                .decode()
                .strip()
            )
            client = kernel_client(runtime / f"kernel-{kernel['id']}.json")
            output = run_cell(client, ATTACH.format(prompt=PROMPT), 300)
            bare_s, n_tokens, run_s = (float(x) for x in output.split("BARE")[-1].split())
            sidecar = json.loads((runtime / f"transpector-{kernel['id']}.json").read_text())
            proxied = f"ws://127.0.0.1:{port}/transpector/kernels/{kernel['id']}/ws"
            direct = sidecar["url"].replace("http", "ws") + "/ws"
            with connect(proxied, additional_headers={"Authorization": f"token {token}"},
                         max_size=None) as ws:  # fmt: skip
                receive_until(ws, "state", timeout=120)
                receive_until(ws, "run_summary", timeout=120)  # the run every new client gets
                proxy_rtt = sorted(round_trips(ws, 300)[50:])
                latencies, sizes = [], []
                for city in ("Bonn", "Rome", "Oslo", "Bern", "Kyiv"):  # each prompt new: a forward
                    prompt = PROMPT.replace("Berlin", city)
                    start = time.perf_counter()
                    ws.send(json.dumps({"op": "set_prompt", "prompt": prompt}))
                    summary = receive_text_until(ws, "run_summary", timeout=120)
                    latencies.append(time.perf_counter() - start)
                    sizes.append(len(summary.encode()))
            with connect(
                direct, additional_headers={"X-Transpector-Token": sidecar["token"]}
            ) as ws:
                receive_until(ws, "state", timeout=120)
                direct_rtt = sorted(round_trips(ws, 300)[50:])
            comm = Comm(client)
            comm.receive("state")
            comm.receive("run_summary")
            comm_rtt = sorted(comm_round_trips(comm, 300)[50:])
            comm_latencies = []
            for city in ("Lima", "Riga", "Baku", "Doha", "Male"):
                comm.op({"op": "set_prompt", "prompt": PROMPT.replace("Berlin", city)})
                start = time.perf_counter()
                comm.receive("run_summary")
                comm_latencies.append(time.perf_counter() - start)
            client.stop_channels()
        finally:
            server.terminate()
            server.wait(30)

    def pct(values: list[float], q: float) -> float:
        return values[int(q * (len(values) - 1))] * 1e3

    print(f"prompt: {int(n_tokens)} tokens; bare forward in the kernel {bare_s * 1e3:.1f} ms")
    print(f"no-op round trip through the proxy: p50 {pct(proxy_rtt, 0.5):.2f} ms, "
          f"p95 {pct(proxy_rtt, 0.95):.2f} ms (target p50 <= 3 ms)")  # fmt: skip
    print(f"no-op round trip straight to the kernel app: p50 {pct(direct_rtt, 0.5):.2f} ms, "
          f"p95 {pct(direct_rtt, 0.95):.2f} ms")  # fmt: skip
    print(f"no-op round trip over the kernel's comm: p50 {pct(comm_rtt, 0.5):.2f} ms, "
          f"p95 {pct(comm_rtt, 0.95):.2f} ms = {pct(comm_rtt, 0.5) / pct(proxy_rtt, 0.5):.2f}x "
          "the proxy's p50")  # fmt: skip
    print(f"run summary: {statistics.median(sizes) / 1024:.1f} KB per run (target <= 64 KB)")
    figure("transport", "no-op round trip through the proxy, p50", pct(proxy_rtt, 0.5), "<=", 3,
           " ms")  # fmt: skip
    figure("transport", "run summary size", statistics.median(sizes) / 1024, "<=", 64, " KB")
    latency = statistics.median(latencies)
    print(f"set_prompt -> run summary: {latency * 1e3:.0f} ms = {latency / bare_s:.2f}x a bare "
          f"forward, {latency / run_s:.2f}x a full session.run(lens=False) in the kernel "
          f"({run_s * 1e3:.0f} ms; the lens follows the summary in its own message)")  # fmt: skip
    figure("transport", "set_prompt -> run summary / a full session.run", latency / run_s, None,
           None, "x")  # fmt: skip
    comm_latency = statistics.median(comm_latencies)
    print(f"set_prompt -> run summary over the comm: {comm_latency * 1e3:.0f} ms = "
          f"{comm_latency / latency:.2f}x through the proxy")  # fmt: skip
    figure("transport", "no-op round trip over the comm / through the proxy, p50",
           pct(comm_rtt, 0.5) / pct(proxy_rtt, 0.5), None, None, "x")  # fmt: skip
    figure("transport", "set_prompt -> run summary over the comm / through the proxy",
           comm_latency / latency, None, None, "x")  # fmt: skip


if __name__ == "__main__":
    main()
