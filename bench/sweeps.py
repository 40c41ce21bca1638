"""Activation patching sweeps on SmolLM2 with 1 thread, measured in one run.

A 16-token IOI pair, scored by logit(' Mary') - logit(' John') at the last position. For the
resid_pre [layer, position] sweep and the head_out [layer, head] sweep it prints:
  1. the tool's time / a naive loop of single patched forwards (one hook, full forward each)
                                                                              (target >= 5x)
  2. the tool's time / transformer_lens.patching's sweep on the same bridge
     (get_act_patch_resid_pre, get_act_patch_attn_head_out_all_pos)
  3. the largest difference between the tool's cells and each of those (they must agree)
  4. peak memory of the sweep / peak memory of a bare forward (whole process, model included)

The tool's forwards start at the patched layer's block and, where the model allows, run only the
positions after the prompts' shared prefix (here the first 11 tokens): the header line says which.
Each loop is timed once (the naive loops take about a minute): on a shared CPU the figures move
by some percent from run to run.

    python bench/sweeps.py
"""

from __future__ import annotations

import os
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
CLEAN = "When Mary and John went to the big store, John gave a drink to"
CORRUPT = "When Mary and John went to the big store, Mary gave a drink to"
N_TOKENS = 16
# sweep -> (hook template, the index a cell patches in [batch, ...], TransformerLens's sweep)
SWEEPS: dict[str, tuple[str, Callable[[int], tuple[Any, ...]], str]] = {
    "resid_pre": (
        "blocks.{l}.hook_resid_pre", lambda p: (slice(None), p), "get_act_patch_resid_pre"
    ),
    "head_out": (
        "blocks.{l}.attn.hook_z",
        lambda h: (slice(None), slice(None), h),
        "get_act_patch_attn_head_out_all_pos",
    ),
}  # fmt: skip


def seconds(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    found = fn()
    return time.perf_counter() - start, found


def tool_sweep(session: Any, **args: Any) -> Any:
    """The tool's steps run to the end, as the kernel app drives them (no progress bar)."""
    from transpector.kernel.tools.patching import ACTIVATION_PATCHING
    from transpector.protocol.patching import PatchingArgs

    assert ACTIVATION_PATCHING.steps is not None
    steps = ACTIVATION_PATCHING.steps(session, PatchingArgs(**args))
    while True:
        try:
            next(steps)
        except StopIteration as end:
            return end.value


def naive(model: Any, sweep: str, shape: list[int], metric: Callable[[Any], Any]) -> Any:
    """Every cell as its own full forward of the corrupt prompt with one patching hook."""
    import torch

    template, index_of, _ = SWEEPS[sweep]
    corrupt = model.to_tokens(CORRUPT)
    with torch.inference_mode():
        _, cache = model.run_with_cache(model.to_tokens(CLEAN))
        grid = torch.zeros(shape)
        for layer in range(shape[0]):
            hook = template.format(l=layer)
            for i in range(shape[1]):
                index = index_of(i)

                def put(act: Any, hook: Any, index: Any = index) -> Any:
                    act = act.clone()
                    act[index] = cache[hook.name][index]
                    return act

                with model.hooks(fwd_hooks=[(hook, put)]):
                    grid[layer, i] = metric(model(corrupt))
    return grid


def with_transformer_lens(model: Any, sweep: str, metric: Callable[[Any], Any]) -> Any:
    import torch
    import transformer_lens.patching as tl_patching

    fn = getattr(tl_patching, SWEEPS[sweep][2])
    with torch.inference_mode():
        _, cache = model.run_with_cache(model.to_tokens(CLEAN))
        return fn(model, model.to_tokens(CORRUPT), cache, metric)


def timings() -> None:
    import torch

    import transpector
    from transpector.kernel.session import Session

    torch.set_num_threads(1)
    model = transpector.load_default_model(device="cpu")
    for prompt in (CLEAN, CORRUPT):
        assert model.to_tokens(prompt).shape[1] == N_TOKENS, prompt
    session = Session(model)
    session.add_pair(CLEAN, CORRUPT)
    session.set_metric("logit_diff", correct=" Mary", wrong=" John")
    encode = model.tokenizer.encode
    mary, john = (encode(t, add_special_tokens=False)[0] for t in (" Mary", " John"))

    def metric(logits: Any) -> Any:
        return logits[0, -1, mary] - logits[0, -1, john]

    tool_sweep(session, layers=[model.cfg.n_layers - 1])  # the once-per-model resume check
    from transpector.kernel.adapter.batched import prefix_name

    clean, corrupt = model.to_tokens(CLEAN)[0], model.to_tokens(CORRUPT)[0]
    shared = int((clean != corrupt).nonzero()[0, 0])
    runs = (
        f"forwards run positions {shared}..{N_TOKENS - 1} (0..{shared - 1} shared)"
        if prefix_name(session.adapter) is not None
        else "forwards run every position"
    )
    print(f"SmolLM2-135M, {N_TOKENS}-token IOI pair, 1 torch thread, each loop timed once; {runs}")
    for sweep in SWEEPS:
        t_tool, result = seconds(lambda sweep=sweep: tool_sweep(session, sweep=sweep))
        got = torch.tensor(result.raw).reshape(result.shape)
        shape = result.shape
        t_naive, by_hand = seconds(lambda s=sweep, shape=shape: naive(model, s, shape, metric))
        t_tl, by_tl = seconds(lambda sweep=sweep: with_transformer_lens(model, sweep, metric))
        cells = len(result.raw)
        print(
            f"\n{sweep} {result.shape}: tool {t_tool:.1f} s ({result.forwards} batched forwards "
            f"of up to {result.copies_per_forward} copies, {result.skipped} of {cells} cells "
            f"needed none, resumed={result.resumed}); naive {t_naive:.1f} s, "
            f"{SWEEPS[sweep][2]} {t_tl:.1f} s"
        )
        print(f"1. naive loop / tool:             {t_naive / t_tool:.1f}x  (target >= 5x)")
        print(f"2. transformer_lens / tool:       {t_tl / t_tool:.1f}x")
        diff_naive = float((got - by_hand).abs().max())
        diff_tl = float((got - by_tl.float()).abs().max())
        print(f"3. max |tool - naive| {diff_naive:.2g}, |tool - transformer_lens| {diff_tl:.2g}")
        figure("sweeps", f"{sweep}: a naive loop / the tool", t_naive / t_tool, ">=", 5, "x")
        figure("sweeps", f"{sweep}: transformer_lens.patching / the tool", t_tl / t_tool, None,
               None, "x")  # fmt: skip
        figure("sweeps", f"{sweep}: max |tool - naive|", diff_naive, "<=", 1e-4, "")


PEAK = """
import os, torch
torch.set_num_threads(1)
import transpector
from transpector.kernel.session import Session
sys_path = {path!r}
import sys
sys.path.insert(0, sys_path)
from sweeps import CLEAN, CORRUPT, tool_sweep
model = transpector.load_default_model(device="cpu")
session = Session(model)
session.add_pair(CLEAN, CORRUPT)
session.set_metric("logit_diff", correct=" Mary", wrong=" John")
tokens = model.to_tokens(CORRUPT)
for weight in model.parameters():  # page every weight in: the figures are what runs add
    float(weight.detach().float().sum())
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
    tool_sweep(session, sweep={what!r})
print("PEAK", status("VmHWM"), before)
"""


def peak_kib(what: str) -> tuple[int, int]:
    code = PEAK.format(path=os.path.dirname(os.path.abspath(__file__)), what=what)
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    peak, before = out.split("PEAK")[-1].split()
    return int(peak), int(before)


def memory() -> None:
    bare_peak, bare_before = peak_kib("bare")
    print(f"\npeak RSS of a bare forward {bare_peak / 1024:.0f} MiB "
          f"(+{(bare_peak - bare_before) / 1024:.0f} over the loaded model)")  # fmt: skip
    for sweep in SWEEPS:
        peak, before = peak_kib(sweep)
        added = (peak - before) / max(bare_peak - bare_before, 1)
        print(
            f"4. {sweep} sweep peak / bare-forward peak: {peak / bare_peak:.2f}x "
            f"({peak / 1024:.0f} MiB, +{(peak - before) / 1024:.0f} over the loaded model: "
            f"{added:.1f}x a bare forward's)"
        )
        figure("sweeps", f"{sweep}: peak memory / a bare forward's", peak / bare_peak, None, None,
               "x")  # fmt: skip


if __name__ == "__main__":
    timings()
    memory()
