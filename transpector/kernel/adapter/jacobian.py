"""TransformerLens's Jacobian lens (``transformer_lens.tools.analysis.JacobianLens``): fit,
merge, save, load and transport, the only place Transpector calls it.

TL's layer ``l`` is the output of block ``l`` (``blocks.{l}.hook_out``), Transpector's
``L{l}.resid_post`` = ``L{l+1}.resid_pre``; the last block's output has no matrix (the identity).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch

from transpector.errors import TranspectorError


def lens_class() -> Any:
    from transformer_lens.tools.analysis import JacobianLens

    return JacobianLens


def check_fittable(model: Any) -> None:
    """A TranspectorError saying why TL refuses to fit or read a lens on ``model``: not a raw
    TransformerBridge, processed weights or compatibility mode, a non-causal or unusual output
    path."""
    from transformer_lens.tools.analysis import jacobian_lens as tl

    try:
        tl._require_raw_bridge(model, estimator="JacobianLens")
    except (TypeError, ValueError) as error:
        raise TranspectorError(f"TransformerLens refuses a Jacobian lens here: {error}") from None


def fit_one(model: Any, prompt: str, corpus: str, options: dict[str, Any]) -> Any | None:
    """TL's fit on one prompt (``options``: source_layers, dim_batch, max_seq_len,
    skip_first_positions), or
    None when the prompt is too short to give a position past the skipped ones. The model runs
    in evaluation mode for the fit (TL refuses training mode: dropout would make the Jacobians
    random); each module's mode is put back after."""
    try:
        with warnings.catch_warnings(), _evaluating(model):
            warnings.simplefilter("ignore", UserWarning)
            return lens_class().fit(model, [prompt], corpus=corpus, show_progress=False, **options)
    except ValueError as error:
        if "too short" in str(error):
            return None
        raise TranspectorError(f"TransformerLens refuses a Jacobian lens here: {error}") from None
    except TypeError as error:
        raise TranspectorError(f"TransformerLens refuses a Jacobian lens here: {error}") from None


@contextmanager
def _evaluating(model: Any) -> Iterator[None]:
    modes = [(module, module.training) for module in model.modules()]
    model.eval()
    try:
        yield
    finally:
        for module, training in modes:
            module.training = training


def merge(shards: list[Any]) -> Any:
    """The prompt-weighted mean of lenses fitted on disjoint prompts (TL's ``merge``)."""
    return lens_class().merge(shards)


def save(lens: Any, path: Path) -> None:
    """In TL's artifact format, in float32 (a reloaded lens reads exactly as the fitted one)."""
    lens.save(str(path), dtype=torch.float32)


def load(path: Path) -> Any:
    return lens_class().load(str(path))


def n_prompts(lens: Any) -> int:
    return int(lens.n_prompts)


def source_layers(lens: Any) -> list[int]:
    return list(lens.source_layers)


def transport(lens: Any, resid: torch.Tensor, layer: int) -> torch.Tensor:
    """``J[layer] @ h`` for every vector of ``resid`` [..., d_model], in float32."""
    moved: torch.Tensor = lens.transport(resid, layer)
    return moved


def validate(lens: Any, model: Any) -> None:
    try:
        lens.validate_model(model)
    except (TypeError, ValueError) as error:
        raise TranspectorError(f"this Jacobian lens does not fit the model: {error}") from None
