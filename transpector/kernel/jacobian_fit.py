"""Fitting the Jacobian lens (see ``transpector/protocol/jacobian_lens.py``) in steps, and the
lens each session holds.

TransformerLens's own ``JacobianLens.fit`` runs on one prompt at a time; the shards are joined
with its ``merge`` (the prompt-weighted mean, which is the whole fit's mean). A step between
prompts reports progress, and a cancel thrown in there leaves no hook on the model, parameters
as they were, and no cache entry. The lens is held per model adapter, for the weights it was
fitted on: when the weights change (an edit), it is no longer used.
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Generator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from transpector.errors import TranspectorError
from transpector.kernel import jacobian_cache
from transpector.kernel.adapter import ModelAdapter
from transpector.kernel.adapter import jacobian as tl
from transpector.kernel.adapter.scan import window_text
from transpector.kernel.datasets import Dataset
from transpector.kernel.tools.base import Step
from transpector.kernel.weights_digest import weights_digest
from transpector.protocol.jacobian_lens import FitJacobianLensArgs, JacobianLensInfo

NOT_FITTED = (
    "no Jacobian lens is fitted for this model's weights: fit one with "
    "session.fit_jacobian_lens() or the lens card's Fit button"
)


@dataclass(frozen=True)
class Held:
    weights: str  # the weights digest it was fitted on
    lens: Any  # TransformerLens's JacobianLens
    info: JacobianLensInfo


_held: weakref.WeakKeyDictionary[ModelAdapter, Held] = weakref.WeakKeyDictionary()


def held(adapter: ModelAdapter) -> Held | None:
    """The lens for the model's current weights: the one held, else the one fitted last for
    these weights, from the cache."""
    digest = weights_digest(adapter.model)
    found = _held.get(adapter)
    if found is not None and found.weights == digest:
        return found
    key = jacobian_cache.latest(digest)
    info = jacobian_cache.load_info(key) if key else None
    if key is None or info is None:
        return None
    return _hold(adapter, digest, key, info)


def require(adapter: ModelAdapter) -> Held:
    found = held(adapter)
    if found is None:
        raise TranspectorError(NOT_FITTED)
    return found


def forget(adapter: ModelAdapter) -> None:
    _held.pop(adapter, None)


def _hold(adapter: ModelAdapter, digest: str, key: str, info: JacobianLensInfo) -> Held:
    lens = tl.load(jacobian_cache.lens_path(key))
    tl.validate(lens, adapter.model)
    _held[adapter] = found = Held(digest, lens, info)
    return found


def fit_key(digest: str, dataset: Dataset, args: FitJacobianLensArgs) -> str:
    return jacobian_cache.entry_key(
        "jacobian_lens", digest, dataset.info.digest, args.n_prompts, args.max_seq_len,
        args.dim_batch, args.skip_first_positions, args.source_layers,
    )  # fmt: skip


def fit_steps(
    adapter: ModelAdapter, dataset: Dataset, args: FitJacobianLensArgs
) -> Generator[Step, None, JacobianLensInfo]:
    """Steps of a fit on ``n_prompts`` windows of ``dataset``: one per prompt. A lens in the
    cache for the same weights, dataset and options is loaded instead (unless ``refit``)."""
    model = adapter.model
    tl.check_fittable(model)
    # past d_model the prompt's copies only cost memory: the lens is the same, and so is its key
    args = args.model_copy(update={"dim_batch": min(args.dim_batch, int(adapter.cfg.d_model))})
    total = dataset.info.n_windows
    if args.n_prompts > total:
        raise TranspectorError(
            f"n_prompts is {args.n_prompts} but the dataset ({dataset.name}) has {total} "
            f"windows of {dataset.info.window} tokens; ask for at most {total}"
        )
    digest = weights_digest(model)
    key = fit_key(digest, dataset, args)
    cached = jacobian_cache.load_info(key)
    if cached is not None and not args.refit:
        found = _hold(adapter, digest, key, cached)
        jacobian_cache.save_pointer(key, digest)
        return found.info
    picked = sorted({i * total // args.n_prompts for i in range(args.n_prompts)})
    prompts = [window_text(adapter, row) for row in dataset.windows_at(picked).tolist()]
    options = {"dim_batch": args.dim_batch,
               "max_seq_len": args.max_seq_len, "skip_first_positions": args.skip_first_positions,
               "source_layers": args.source_layers}  # fmt: skip
    corpus = f"{dataset.name} ({dataset.info.digest[:16]})"
    label = f"fitting the Jacobian lens on {len(prompts)} prompts"
    shards = []
    start = time.perf_counter()
    yield Step(0, len(prompts), label)
    for i, prompt in enumerate(prompts):
        shard = tl.fit_one(model, prompt, corpus, options)
        if shard is not None:
            shards.append(shard)
        yield Step(i + 1, len(prompts), label)
    if not shards:
        raise TranspectorError(
            f"every prompt was too short: a prompt needs more than skip_first_positions + 1 = "
            f"{args.skip_first_positions + 1} tokens (max_seq_len is {args.max_seq_len})"
        )
    lens = tl.merge(shards)
    info = JacobianLensInfo(
        key=key, rows=[f"L{layer + 1}.resid_pre" for layer in tl.source_layers(lens)],
        source_layers=tl.source_layers(lens), n_prompts=tl.n_prompts(lens),
        dataset=dataset.info, max_seq_len=args.max_seq_len,
        dim_batch=args.dim_batch, skip_first_positions=args.skip_first_positions,
        fitted_at=datetime.now(UTC).isoformat(timespec="seconds"),
        fit_seconds=time.perf_counter() - start,
        path=str(jacobian_cache.lens_path(key)),
    )  # fmt: skip
    jacobian_cache.save(key, digest, lambda path: tl.save(lens, path), info)
    _held[adapter] = Held(digest, lens, info)
    return info
