"""Dataset scans on SmolLM2 with 1 thread, measured in one run: a neuron view's top-k contexts
over the embedded corpus against bare forwards of the same windows, and peak memory against the
corpus's size.

Prints:
  1. tokens per second of the scan behind a neuron's top-k contexts (every neuron of one MLP
     layer: top windows, histogram, density) / bare ``model(tokens)`` forwards of the same
     windows in the same batches, at layer 29 of 30 (the forward stops after that MLP, so only
     the final norm and unembedding are skipped) and at layer 15 (target >= 0.8x)
  3. SAE training throughput (printed after 1): a TopK autoencoder, 576 -> 2304 latents, k=32,
     on layer 6's residual stream over the same windows, in tokens per second of training
  2. peak memory added by scanning a JSONL file 8 times the size / 1 time the size (about 50k
     and 400k tokens at layer 1), each in a fresh process after the model is loaded and has run
     once (target <= 1.1x: streamed, not held)

    python bench/data.py
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.results import figure

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
WINDOW = 64
WINDOWS = 160  # the corpus's first 160 windows of 64 tokens: 10,240 tokens
LAYERS = (29, 15)


def throughput() -> None:
    import torch

    import transpector
    from transpector.kernel import scan_cache
    from transpector.kernel.dataset_scan import batch_size
    from transpector.kernel.session import Session
    from transpector.kernel.tools.base import Cancelled

    torch.set_num_threads(1)
    model = transpector.load_default_model(device="cpu")
    session = Session(model)
    session.set_dataset(window=WINDOW, max_windows=WINDOWS)
    dataset = session.dataset_for(None)
    batches = list(dataset.batches(batch_size(WINDOW)))
    n_tokens = int(sum(b.numel() for b in batches))
    with torch.inference_mode():
        model(batches[0][:2])  # warm up

    def bare() -> float:
        start = time.perf_counter()
        with torch.inference_mode():
            for tokens in batches:
                model(tokens)
        return float(n_tokens / (time.perf_counter() - start))

    def scan(layer: int) -> float:
        scan_cache.clear()
        start = time.perf_counter()
        view = session.call("neuron_view", neuron=f"L{layer}.mlp.N0", k=10)
        assert view is not None and not isinstance(view, Cancelled)
        return float(n_tokens / (time.perf_counter() - start))

    print(f"{len(batches)} batches of up to {batch_size(WINDOW)} windows, {n_tokens} tokens")
    for layer in LAYERS:
        plain, scanned = bare(), scan(layer)
        ratio = scanned / plain
        print(
            f"1. layer {layer}: scan {scanned:.0f} tokens/s, bare forwards {plain:.0f} tokens/s: "
            f"{ratio:.2f}x  (target >= 0.8x)"
        )
        figure("data", f"neuron top-k scan tokens/s / bare forwards, layer {layer} of 30",
               ratio, ">=", 0.8, "x")  # fmt: skip
    sae_training(session)


def sae_training(session: Any) -> None:
    """3. a TopK autoencoder (576 -> 2304 latents, k=32) on L6's residual over the same windows:
    tokens per second of the optimisation (Adam, 1024-token batches), reported without a target;
    its held-out FVU and L0 printed beside it."""
    sae = session.train_sae("blocks.6.hook_resid_post", 2304, 32, epochs=2)
    report = sae.report
    print(
        f"3. SAE training (576 -> 2304, k=32, {report.train_tokens} tokens x {report.epochs} "
        f"epochs): {report.tokens_per_s:.0f} tokens/s; held-out FVU {report.fvu:.3f}, "
        f"L0 {report.l0:.1f}, dead {report.dead_latents}"
    )
    figure("data", "SAE training tokens/s (576 -> 2304, k=32)", report.tokens_per_s, None, None,
           "tokens/s")  # fmt: skip


PEAK = """
import os, torch
torch.set_num_threads(1)
os.environ["TRANSPECTOR_CACHE"] = {cache!r}
import transpector
from transpector.kernel.session import Session
model = transpector.load_default_model(device="cpu")
session = Session(model)
session.context()  # the first forward's own allocations (a mask for n_ctx), not the scan's
def status(key):
    for line in open("/proc/self/status"):
        if line.startswith(key):
            return int(line.split()[1])
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")  # resets the peak RSS (VmHWM) to the current RSS
before = status("VmRSS")
info = session.set_dataset(path={path!r}, window={window})
session.call("neuron_view", neuron="L1.mlp.N0", k=10)
print("PEAK", status("VmHWM"), before, info.n_tokens)
"""


def peak_kib(path: Path, cache: str) -> tuple[int, int, int]:
    out = subprocess.run(
        [sys.executable, "-c", PEAK.format(path=str(path), cache=cache, window=WINDOW)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    peak, before, n_tokens = out.split("PEAK")[-1].split()
    return int(peak), int(before), int(n_tokens)


def memory(real: Path) -> None:
    from transpector.kernel import corpus

    texts = corpus.default_texts()[:6] * 4  # 1x: 24 batches, past the allocator's warm-up
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["TRANSPECTOR_CACHE"] = scratch_cache(Path(tmp) / "cache", real)
        added = []
        for times in (1, 8):
            path = Path(tmp) / f"corpus-x{times}.jsonl"
            path.write_text("".join(json.dumps(t) + "\n" for t in texts * times), "utf-8")
            peak, before, n_tokens = peak_kib(path, os.environ["TRANSPECTOR_CACHE"])
            added.append((peak - before) / 1024)
            print(
                f"   {times}x corpus ({n_tokens} tokens, {path.stat().st_size / 2**20:.1f} MiB): "
                f"peak {peak / 1024:.0f} MiB, +{added[-1]:.0f} MiB over the loaded model"
            )
    ratio = added[1] / added[0]
    print(f"2. peak added, 8x corpus / 1x corpus: {ratio:.2f}x  (target <= 1.1x)")
    figure("data", "peak memory added by a scan, 8x corpus / 1x", ratio, "<=", 1.1, "x")


def scratch_cache(folder: Path, real: Path) -> str:
    """A cache root whose scans start empty, sharing the real one's model and downloads."""
    folder.mkdir()
    for name in ("downloads", "models"):
        (real / name).mkdir(parents=True, exist_ok=True)
        (folder / name).symlink_to(real / name)
    return str(folder)


if __name__ == "__main__":
    import transpector
    from transpector.kernel.package_files import cache_root

    real = cache_root()
    transpector.load_default_model(device="cpu")  # built once into the real cache
    from transpector.kernel import corpus

    corpus.corpus_wheel()
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["TRANSPECTOR_CACHE"] = scratch_cache(Path(tmp) / "cache", real)
        throughput()
    memory(real)
