"""What a Session run costs over the bare model, on SmolLM2 with a 20-token prompt, 1 thread.

Prints, measured in this one run:
  1. session.run with the lens off / a bare model(tokens) forward          (target <= 1.15x)
  2. the time the lens adds / its floor, one batched unembed(ln_final(stack)) (target <= 1.2x)
  3. peak memory of a run / peak memory of a bare forward                   (target <= 1.2x)

    python bench/run_overhead.py
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable

os.environ.setdefault("OMP_NUM_THREADS", "1")
PROMPT = "The capital of France is Paris, and the capital of Germany is Berlin. So the capital of"
REPEATS = 15


def median_seconds(fn: Callable[[], object]) -> float:
    fn()
    times = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def timings() -> None:
    import torch

    import transpector
    from transpector.kernel.session import Session

    torch.set_num_threads(1)
    model = transpector.load_default_model(device="cpu")
    session = Session(model)
    session.prompt = PROMPT
    tokens = model.to_tokens(PROMPT)
    print(f"prompt: {tokens.shape[1]} tokens; d_vocab {model.cfg.d_vocab}; 1 torch thread")
    run_off = session.run(lens=False)
    del run_off

    def bare() -> object:
        with torch.inference_mode():
            return model(tokens)

    rows = session._runner._lens_hooks()
    _, found = session._runner.forward(tokens, [], rows)
    stack = torch.stack([found[name][0] for name in rows])

    def floor() -> object:
        with torch.inference_mode():
            return model.unembed.original_component(model.ln_final.original_component(stack))

    # Interleave the measurements so machine noise hits all of them alike.
    t_bare, t_off, t_on, t_floor = [], [], [], []
    for _ in range(3):
        t_bare.append(median_seconds(bare))
        t_off.append(median_seconds(lambda: session.run(lens=False)))
        t_on.append(median_seconds(lambda: session.run(lens=True)))
        t_floor.append(median_seconds(floor))
    bare_s, off_s = statistics.median(t_bare), statistics.median(t_off)
    on_s, floor_s = statistics.median(t_on), statistics.median(t_floor)
    print(f"bare forward {bare_s * 1e3:7.1f} ms   run, lens off {off_s * 1e3:7.1f} ms")
    print(f"run, lens on {on_s * 1e3:7.1f} ms   lens floor    {floor_s * 1e3:7.1f} ms")
    print(f"1. run (lens off) / bare forward: {off_s / bare_s:.2f}x  (target <= 1.15x)")
    print(f"2. lens added / lens floor:       {(on_s - off_s) / floor_s:.2f}x  (target <= 1.2x)")


PEAK = """
import os, torch
torch.set_num_threads(1)
import transpector
from transpector.kernel.session import Session
model = transpector.load_default_model(device="cpu")
session = Session(model)
tokens = model.to_tokens({prompt!r})
def status(key):
    for line in open("/proc/self/status"):
        if line.startswith(key):
            return int(line.split()[1])
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")  # resets the peak RSS (VmHWM) to the current RSS
before = status("VmRSS")
if {what!r} == "bare":
    with torch.inference_mode():
        model(tokens)
else:
    session.run({prompt!r}, lens=True)
print("PEAK", status("VmHWM"), before)
"""


def peak_kib(what: str) -> tuple[int, int]:
    out = subprocess.run(
        [sys.executable, "-c", PEAK.format(prompt=PROMPT, what=what)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    peak, before = out.split("PEAK")[-1].split()
    return int(peak), int(before)


def memory() -> None:
    bare_peak, bare_before = peak_kib("bare")
    run_peak, run_before = peak_kib("run")
    bare_added, run_added = (bare_peak - bare_before) / 1024, (run_peak - run_before) / 1024
    print(
        f"peak RSS: bare forward {bare_peak / 1024:.0f} MiB (+{bare_added:.0f} over the loaded "
        f"model), run with lens {run_peak / 1024:.0f} MiB (+{run_added:.0f})"
    )
    print(f"3. run peak / bare-forward peak:  {run_peak / bare_peak:.2f}x  (target <= 1.2x)")


if __name__ == "__main__":
    timings()
    memory()
