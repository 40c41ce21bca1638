"""Latent edits (``Latent`` specs) as hooks: the autoencoder loaded for the hook splices the
activation (``hook_runtime.edit_latent``: reconstruction plus error, one latent changed), and
``session.code()`` writes the same call with the autoencoder loaded from its folder."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any

from transpector.errors import TranspectorError
from transpector.kernel import hook_runtime as hf
from transpector.kernel.adapter import mark_owned
from transpector.kernel.targets import check_positions

if TYPE_CHECKING:
    from transpector.kernel.interventions import Step
    from transpector.kernel.sae.model import SparseAutoencoder

Activations = Callable[[Sequence[str], str], list[Any]]


def sae_for(step: Step, saes: Mapping[str, SparseAutoencoder]) -> SparseAutoencoder:
    sae = saes.get(step.hook)
    if sae is None:
        raise TranspectorError(
            f"no autoencoder is loaded for {step.hook}: load one with session.load_sae(...)"
        )
    if step.latent >= sae.d_sae:
        raise TranspectorError(
            f"latent {step.latent} is out of range: the autoencoder at {step.hook} has "
            f"{sae.d_sae} latents"
        )
    return sae


def latent_value(
    step: Step,
    sae: SparseAutoencoder,
    n_pos: int,
    activations: Activations,
    token_count: Callable[[str], int],
) -> Any:
    """What the latent is set to: 0 (ablate), None (steer: kept, ``scale`` added) or its
    activations on the source prompt at the positions (patch)."""
    from transpector.kernel.interventions import check_source_length

    check_positions(step.positions, n_pos, step.hook)
    if step.action == "ablate":
        return 0.0
    if step.action == "steer":
        return None
    if not step.source_prompt:
        raise TranspectorError("a latent patch needs a source_prompt to copy from")
    source_len = token_count(step.source_prompt)
    check_source_length(source_len, n_pos, step.positions)
    check_positions(step.positions, source_len, step.hook)
    (act,) = activations([step.source_prompt], step.hook)  # [pos, d_in]
    values = sae.encode(act)[..., step.latent].detach()
    return values if step.positions is None else values[step.positions]


def latent_hook(
    step: Step,
    saes: Mapping[str, SparseAutoencoder],
    n_pos: int,
    activations: Activations,
    token_count: Callable[[str], int],
) -> tuple[str, Callable[..., Any]]:
    sae = sae_for(step, saes)
    value = latent_value(step, sae, n_pos, activations, token_count)
    add = step.scale if step.action == "steer" else 0.0
    fn = partial(hf.edit_latent, sae=sae, latent=step.latent, positions=step.positions,
                 value=value, add=add)  # fmt: skip
    return step.hook, mark_owned(fn)


def latent_code(step: Step) -> str:
    """The ``fwd_hooks.append(...)`` line of a latent step in ``session.code()`` (``saes``,
    ``model`` and ``capture`` in scope)."""
    if step.action == "ablate":
        value = "0.0"
    elif step.action == "steer":
        value = "None"
    else:
        act = f"capture(model, [{step.source_prompt!r}], [{step.hook!r}])[{step.hook!r}][0]"
        value = f"saes[{step.hook!r}].encode({act})[..., {step.latent}].detach()"
        if step.positions is not None:
            value += f"[{step.positions!r}]"
    add = step.scale if step.action == "steer" else 0.0
    return (
        f"fwd_hooks.append(({step.hook!r}, functools.partial(edit_latent, "
        f"sae=saes[{step.hook!r}], latent={step.latent}, positions={step.positions!r}, "
        f"value={value}, add={add!r})))"
    )


def sae_lines(hooks: Sequence[str], saes: Mapping[str, SparseAutoencoder]) -> list[str]:
    """``saes = {...}``: the autoencoder of each hook a latent edit uses, loaded from its folder."""
    if not hooks:
        return []
    lines = ["import transpector", "saes = {}  # sparse autoencoders, by hook"]
    for hook in sorted(set(hooks)):
        sae = saes.get(hook)
        if sae is None or sae.path is None:
            raise TranspectorError(f"no autoencoder is loaded for {hook}: session.load_sae(...)")
        lines.append(f"saes[{hook!r}] = transpector.load_sae({str(sae.path)!r})")
    return lines
