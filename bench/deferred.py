"""What a deferred trace (session.trace, nnsight) costs over a bare forward, on SmolLM2 with 1
torch thread, measured in one run.

Bare forwards and traces alternate, and a ratio is the median of the per-pair ratios, so drift
in the machine's speed cancels. The bare forwards run the session's own model: nnsight wraps a
module only once a trace reaches it (the root and the paths to the hook points read here), which
costs a forward outside a trace next to nothing (figure 3, against a second copy of the model
that was never wrapped: that ratio also holds the two copies' own difference, about 2%).

Prints:
  1. a trace saving the logits / a bare no_grad forward, at 20 and 400 tokens  (target <= 1.05x)
  2. a trace saving three hook points and zeroing a head / the same forward with plain
     TransformerLens hooks (run_with_hooks style), at 20 tokens              (target <= 1.05x)
  3. a bare forward of the wrapped model / of the unwrapped one: what nnsight's wrapping costs
     every other run of the session                                          (reported)
  4. a trace with remote="local" (nnsight's serialization round trip, run here) / the same
     trace run locally, saving three hook points, at 20 tokens              (reported)
  5. the same trace with remote=True against the loopback NDIF of the tests (tests/ndif_loopback.py,
     a test double of the service, on this machine with its own copy of the model: serialization,
     HTTP and websocket over loopback, the far side's run, the result back) / the local trace
                                                                             (reported)

    python bench/deferred.py
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.results import figure

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
PROMPT = "The capital of France is Paris, and the capital of Germany is Berlin. So the capital of"
PAIRS = 15
HOOKS = ["blocks.3.attn.hook_z", "blocks.10.hook_resid_post", "blocks.20.mlp.hook_post"]


def paired_ratio(
    measured: Callable[[], object], baseline: Callable[[], object], pairs: int = PAIRS
) -> float:
    """The median over ``pairs`` alternating runs of time(measured) / time(baseline)."""
    measured()
    baseline()
    ratios = []
    for i in range(pairs):
        times = {}
        for name, fn in (("m", measured), ("b", baseline))[:: 1 if i % 2 else -1]:
            start = time.perf_counter()
            fn()
            times[name] = time.perf_counter() - start
        ratios.append(times["m"] / times["b"])
    return statistics.median(ratios)


def long_prompt(model: Any, n_tokens: int) -> str:
    ids = model.to_tokens((PROMPT + " ") * 40)[0, 1:n_tokens]  # the model adds BOS back
    return str(model.tokenizer.decode(ids))


def zero_head(act: Any, hook: Any) -> Any:
    act = act.clone()
    act[:, :, 2] = 0.0
    return act


def main() -> None:
    import torch

    import transpector
    from transpector.kernel.session import Session

    torch.set_num_threads(1)
    model = transpector.load_default_model(device="cpu")
    bare_model = transpector.load_default_model(device="cpu")
    session = Session(model)
    print(f"SmolLM2-135M, 1 torch thread, medians of {PAIRS} alternating pairs")

    for n_tokens in (20, 400):
        prompt = long_prompt(model, n_tokens)
        tokens = model.to_tokens(prompt)

        def bare(tokens: Any = tokens) -> None:
            with torch.no_grad():
                model(tokens)

        def traced(prompt: str = prompt) -> None:
            with session.trace(prompt) as tr:
                tr.model.output.save()

        ratio = paired_ratio(traced, bare)
        print(f"trace saving the logits / bare forward, {tokens.shape[1]} tokens: {ratio:.3f}x")
        figure("deferred", f"trace / bare forward, {n_tokens} tokens", ratio, "<=", 1.05, "x")

    prompt = long_prompt(model, 20)
    tokens = model.to_tokens(prompt)

    def hooked() -> None:
        found = {}

        def keep(act: Any, hook: Any) -> None:
            found[hook.name] = act

        hooks = [(name, keep) for name in HOOKS] + [("blocks.3.attn.hook_z", zero_head)]
        with torch.no_grad(), model.hooks(fwd_hooks=hooks):
            model(tokens)

    def traced_hooks() -> None:
        with session.trace(prompt) as tr:
            z = tr.hook(HOOKS[0])
            z.head(2)[:] = 0
            z.output.save()
            for name in HOOKS[1:]:
                tr.hook(name).output.save()

    ratio = paired_ratio(traced_hooks, hooked)
    print(f"trace saving 3 hook points, zeroing a head / plain hooks, 20 tokens: {ratio:.3f}x")
    figure("deferred", "trace with 3 saves + a head ablation / plain hooks", ratio, "<=", 1.05, "x")

    def wrapped_bare() -> None:
        with torch.no_grad():
            model(tokens)

    def unwrapped_bare() -> None:
        with torch.no_grad():
            bare_model(tokens)

    ratio = paired_ratio(wrapped_bare, unwrapped_bare)
    print(f"bare forward of the wrapped model / of an unwrapped one, 20 tokens: {ratio:.3f}x")
    figure("deferred", "bare forward, wrapped / unwrapped model", ratio, None, None, "x")

    def saving(remote: bool | str) -> None:
        with session.trace(prompt, remote=remote) as tr:
            for name in HOOKS:
                tr.hook(name).output.save()

    ratio = paired_ratio(partial(saving, "local"), partial(saving, False))
    print(f"remote='local' round trip / local trace, 3 saves, 20 tokens: {ratio:.3f}x")
    figure("deferred", "remote='local' round trip / local trace", ratio, None, None, "x")

    from nnsight.schema.config import CONFIG

    from tests.ndif_loopback import LoopbackNDIF, deploy
    from transpector.kernel.deferred.ndif import model_key

    with LoopbackNDIF({model_key(bare_model): deploy(bare_model)}) as ndif:
        CONFIG.API.HOST, CONFIG.API.APIKEY = ndif.url, ndif.api_key
        CONFIG.APP.REMOTE_LOGGING = False
        ratio = paired_ratio(partial(saving, True), partial(saving, False))
    print(f"remote=True to the loopback NDIF / local trace, 3 saves, 20 tokens: {ratio:.3f}x")
    figure("deferred", "loopback NDIF round trip / local trace", ratio, None, None, "x")


if __name__ == "__main__":
    main()
