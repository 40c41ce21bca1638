"""Default-model load times: first (cold cache: convert the GGUF) and second (warm: verify the
cache and boot), each in a fresh process, against a bare TransformerBridge.boot_transformers of the
same folder. Prints seconds and the ratios measured in this one run.

    python bench/model_load.py
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.results import figure

TIMED = """
import time, torch
torch.set_num_threads(1)
t = time.perf_counter()
{body}
print("SECONDS", time.perf_counter() - t)
"""
LOAD = "import transpector; transpector.load_default_model(device='cpu')"
BARE = (
    "from transformer_lens.model_bridge import TransformerBridge\n"
    "TransformerBridge.boot_transformers({folder!r}, device='cpu')"
)


def timed(body: str, cache: Path) -> float:
    env = dict(os.environ, TRANSPECTOR_CACHE=str(cache), HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1")
    out = subprocess.run(
        [sys.executable, "-c", TIMED.format(body=body)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return float(out.split("SECONDS")[-1])


def main() -> None:
    from transpector.kernel import default_model as dm

    gguf = dm.cache_root() / "downloads" / Path(dm.GGUF_MEMBER).name
    dm.default_model_dir()  # makes sure the GGUF is downloaded, so no run times the network
    with tempfile.TemporaryDirectory() as tmp:
        cache = Path(tmp)
        (cache / "downloads").mkdir()
        shutil.copy(gguf, cache / "downloads" / gguf.name)
        first = timed(LOAD, cache)
        second = timed(LOAD, cache)
        (folder,) = (cache / "models").iterdir()
        bare = timed(BARE.format(folder=str(folder)), cache)
    print(f"first load (convert GGUF + boot): {first:6.1f} s")
    print(f"second load (verify cache + boot): {second:6.1f} s")
    print(f"bare boot_transformers of the folder: {bare:6.1f} s")
    print(f"second / first: {second / first:.2f}x   second / bare boot: {second / bare:.2f}x")
    figure("model_load", "second load / first load", second / first, None, None, "x")
    figure("model_load", "second load / a bare boot of the folder", second / bare, None, None, "x")


if __name__ == "__main__":
    main()
