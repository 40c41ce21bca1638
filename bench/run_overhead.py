"""What a Session run costs over the bare model, on SmolLM2 with 1 thread, measured in one run.

Prints:
  1. outputs ready (forward, top-k, loss, DLA, the run summary) / a bare model(tokens) forward,
     at 20 and at 400 tokens                                                  (target <= 1.15x)
  2. the lens's added time / its floor (one batched unembed(ln_final(x)) over the same rows and
     positions), at 20 tokens (every position) and 400 (the last 64)         (target <= 1.2x)
  3. toggling a zero ablation at layer 20 of 30 (outputs ready) / a full clean run (target <= 0.6x)
  4. forwards per canvas edit: outputs, lens, a node's data, a pattern, a lens cell (target 1)
  5. peak memory of a run / peak memory of a bare forward                   (target <= 1.2x)

    python bench/run_overhead.py
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.results import figure

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
PROMPT = "The capital of France is Paris, and the capital of Germany is Berlin. So the capital of"
REPEATS = 9


def median_ms(
    fn: Callable[[], object], setup: Callable[[], object] = lambda: None, repeats: int = REPEATS
) -> float:
    setup()
    fn()
    times = []
    for _ in range(repeats):
        setup()
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def long_prompt(model: Any, n_tokens: int) -> str:
    words = (PROMPT + " ") * 40
    ids = model.to_tokens(words)[0, 1:n_tokens]  # the model adds its BOS token back
    return str(model.tokenizer.decode(ids))


def timings() -> None:
    import torch

    import transpector
    from transpector.kernel.dispatch import Dispatcher
    from transpector.kernel.session import Session

    torch.set_num_threads(1)
    model = transpector.load_default_model(device="cpu")
    session = Session(model)
    dispatcher = Dispatcher(session)
    print(f"SmolLM2-135M, d_vocab {model.cfg.d_vocab}, 1 torch thread, medians of {REPEATS}")

    def fresh() -> None:
        session._contexts.clear()  # the next view runs its forward again

    for prompt in (PROMPT, long_prompt(model, 400)):
        session.prompt = prompt
        outputs_and_lens(session, dispatcher, model, fresh)

    session.prompt = PROMPT
    toggle(session, dispatcher, fresh)
    forwards_per_edit(session, model)


def outputs_and_lens(session: Any, dispatcher: Any, model: Any, fresh: Callable[[], None]) -> None:
    import torch

    from transpector.kernel.tools.lens import LOGIT_LENS, lens_rows, window

    tokens = model.to_tokens(session.prompt)
    n = tokens.shape[1]

    def bare() -> object:
        with torch.inference_mode():
            return model(tokens)

    def outputs() -> object:
        return dispatcher.summary(session.context())

    context = session.context()
    hooks = [session.graph.node(row).hooks["out"] for row in lens_rows(session.graph)]
    positions = window(n, None)
    stack = torch.stack([context.act(h)[positions] for h in hooks])

    def floor() -> object:
        with torch.inference_mode():
            return model.unembed.original_component(model.ln_final.original_component(stack))

    def lens() -> object:
        assert LOGIT_LENS.compute is not None
        context.memo.clear()  # a clean run keeps its lens: measure computing it
        return LOGIT_LENS.compute(context, LOGIT_LENS.contract.args())

    # Interleave the measurements so machine noise hits all of them alike.
    t_bare, t_out, t_lens, t_floor = [], [], [], []
    repeats = REPEATS if n < 100 else 3  # a 400-token forward takes seconds
    for _ in range(3):
        t_bare.append(median_ms(bare, repeats=repeats))
        t_out.append(median_ms(outputs, fresh, repeats))
        t_lens.append(median_ms(lens, repeats=repeats))
        t_floor.append(median_ms(floor, repeats=repeats))
    bare_ms, out_ms = statistics.median(t_bare), statistics.median(t_out)
    lens_ms, floor_ms = statistics.median(t_lens), statistics.median(t_floor)
    print(f"\n{n} tokens: bare forward {bare_ms:.1f} ms, outputs ready {out_ms:.1f} ms")
    print(f"lens {lens_ms:.1f} ms over {len(positions)} positions, its floor {floor_ms:.1f} ms")
    print(f"1. outputs ready / bare forward:  {out_ms / bare_ms:.2f}x  (target <= 1.15x)")
    print(f"2. lens / lens floor:             {lens_ms / floor_ms:.2f}x  (target <= 1.2x)")
    figure("run_overhead", f"outputs ready / bare forward, {n} tokens", out_ms / bare_ms, "<=",
           1.15, "x")  # fmt: skip
    figure("run_overhead", f"lens / its floor, {n} tokens", lens_ms / floor_ms, "<=", 1.2, "x")


def toggle(session: Any, dispatcher: Any, fresh: Callable[[], None]) -> None:
    """A zero ablation of a head at L20 switched on (a new head each time, so each run is new and
    resumes at block 20) and off (back to the clean run, which is kept), outputs ready each time,
    against a full clean run; the first resume checks the model once, so it is left out."""
    clean_ms = median_ms(lambda: dispatcher.summary(session.context()), fresh)
    dispatcher.summary(session.context())
    spec = session.ablate("L20.H0")
    dispatcher.summary(session.context())
    session.remove(spec.id)
    on: list[float] = []
    off: list[float] = []
    layers = set()

    def outputs_ms() -> float:
        start = time.perf_counter()
        context = session.context()
        dispatcher.summary(context)
        if context.clean is not context:
            layers.add(context.timing.resumed_from_layer)
        return (time.perf_counter() - start) * 1e3

    for head in range(REPEATS):
        session.ablate(f"L20.H{head % 9}")
        on.append(outputs_ms())
        session.clear()
        off.append(outputs_ms())
    on_ms, off_ms = statistics.median(on), statistics.median(off)
    print(f"\ntoggle L20.Hh on: outputs ready {on_ms:.1f} ms (resumed from {layers}); off (the "
          f"kept clean run) {off_ms:.1f} ms; a full clean run {clean_ms:.1f} ms")  # fmt: skip
    print(f"3. toggle at L20 / full run:      {on_ms / clean_ms:.2f}x  (target <= 0.6x)")
    figure("run_overhead", "a new ablation at L20 / a full run", on_ms / clean_ms, "<=", 0.6, "x")


def forwards_per_edit(session: Any, model: Any) -> None:
    count = [0]

    def counted(module: Any, args: Any) -> None:
        count[0] += 1

    handle = model.unembed.register_forward_pre_hook(counted)  # every forward ends there

    def views() -> None:
        session.run()
        session.node_data("L3.mlp")
        session.node_data("L5.H2", "pattern")
        session.lens_top_k("L20.resid_pre", -1, k=10)

    try:
        views()
        session.ablate("L21.H8")  # the first resume checks the model once
        views()
        session.clear()
        views()
        added = []
        for head in range(3):  # a new state each time, then back to the clean one (kept)
            before = count[0]
            session.ablate(f"L20.H{head}")
            views()
            added.append(count[0] - before)
            before = count[0]
            session.clear()
            views()
            added.append(count[0] - before)
    finally:
        handle.remove()
    print(f"4. forwards per canvas edit:      {max(added)} at most ({added}; target 1)")
    figure("run_overhead", "forwards per canvas edit (at most)", max(added), "<=", 1, "")


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
    print(f"5. run peak / bare-forward peak:  {run_peak / bare_peak:.2f}x  (target <= 1.2x)")
    figure("run_overhead", "peak memory of a run / of a bare forward", run_peak / bare_peak, "<=",
           1.2, "x")  # fmt: skip


if __name__ == "__main__":
    timings()
    memory()
