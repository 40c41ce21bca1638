"""Sparse autoencoders from cells: ``session.train_sae(...)`` (with a progress bar) and
``session.load_sae(...)``, which keeps an autoencoder for its hook (``session.saes``)."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING

import torch
from pydantic import ValidationError

from transpector.errors import TranspectorError, first_error
from transpector.kernel.adapter.scan import capture_until
from transpector.kernel.interventions import plan
from transpector.kernel.package_files import cache_root
from transpector.kernel.sae.model import SparseAutoencoder, load_sae
from transpector.kernel.sae.splice import latent_value, sae_for
from transpector.kernel.sae.training import TrainSettings, train_steps
from transpector.kernel.targets import resolve
from transpector.protocol.datasets import DatasetSpec
from transpector.protocol.interventions import Intervention, Latent
from transpector.protocol.sae import Architecture

if TYPE_CHECKING:
    from transpector.kernel.adapter import ModelAdapter
    from transpector.kernel.datasets import Dataset
    from transpector.kernel.interventions import SourceActivations
    from transpector.protocol.graph import GraphSpec
    from transpector.protocol.state import SessionState

MAX_LATENTS = 1 << 20


class SaeMethods:
    """Mixed into Session, which provides the adapter and the datasets."""

    _adapter: ModelAdapter
    _sources: SourceActivations
    _state: SessionState
    graph: GraphSpec
    add: Callable[[Intervention], Intervention]  # InterventionMethods'
    _tokens: Callable[[str], torch.Tensor]

    dataset_for: Callable[[DatasetSpec | None], Dataset]  # DatasetMethods'

    @property
    def saes(self) -> dict[str, SparseAutoencoder]:
        """The loaded autoencoders by hook name (a copy)."""
        return dict(self._sources.saes)

    def train_sae(
        self,
        hook: str,
        latents: int,
        k: int | None = 32,
        *,
        architecture: Architecture = "topk",
        l1: float = 5.0,
        epochs: int = 3,
        lr: float = 1e-3,
        batch_tokens: int = 1024,
        heldout: float = 0.1,
        seed: int = 0,
        dataset: DatasetSpec | None = None,
        path: str | os.PathLike[str] | None = None,
    ) -> SparseAutoencoder:
        """Train an autoencoder of ``latents`` latents on ``hook``'s activations over the
        session's dataset (or ``dataset``), with a progress bar; saved to the folder ``path``
        when given (``sae_weights.safetensors`` and ``cfg.json``). Its ``report`` holds the
        held-out FVU, L0 and dead latents. Nothing in the session changes: load it with
        ``load_sae`` to use it."""
        from transpector.kernel.tool_calls import drive

        if hook not in self._adapter.hook_names:
            raise TranspectorError(f"{hook!r} is not a hook of this model")
        width = hook_width(self._adapter, hook)
        if len(width) != 1:
            raise TranspectorError(
                f"{hook} has {width} per token; an autoencoder reads one vector per token "
                "(a hook like blocks.0.hook_resid_post or blocks.0.hook_mlp_out)"
            )
        if not 1 <= latents <= MAX_LATENTS:
            raise TranspectorError(f"latents must be 1 to {MAX_LATENTS}, not {latents}")
        if architecture == "topk" and (k is None or not 1 <= k <= latents):
            raise TranspectorError(f"k must be 1 to latents ({latents}), not {k}")
        if architecture not in ("topk", "standard"):
            raise TranspectorError(f"architecture is 'topk' or 'standard', not {architecture!r}")
        if epochs < 1 or batch_tokens < 1 or not 0 < heldout < 1 or lr <= 0 or l1 < 0:
            raise TranspectorError(
                "epochs and batch_tokens are at least 1, heldout is between 0 and 1, lr > 0 "
                "and l1 >= 0"
            )
        settings = TrainSettings(latents, k, architecture, l1, epochs, lr, batch_tokens,
                                 heldout, seed)  # fmt: skip
        sae = drive(train_steps(self._adapter, self.dataset_for(dataset), hook, settings))
        sae.metadata["model_name"] = str(getattr(self._adapter.cfg, "model_name", ""))
        if path is not None:
            sae.save(path)
        return sae

    def load_sae(self, sae: SparseAutoencoder | str | os.PathLike[str]) -> SparseAutoencoder:
        """Keep an autoencoder (or the one saved in the folder ``sae``) for its hook, replacing
        any there; checked against the model first (the hook exists, its width is ``d_in``). An
        autoencoder never saved is saved under the cache folder, so ``session.code()`` can load
        it. Latent edits (``session.edit_latent``) then act through it."""
        if not isinstance(sae, SparseAutoencoder):
            sae = load_sae(sae)
        self._check_sae(sae)
        used = [
            s.id
            for s in self._state.interventions
            if isinstance(s, Latent) and resolve(self.graph, s.node).hook == sae.hook_name
        ]
        if used and self._sources.saes.get(sae.hook_name) is not sae:
            raise TranspectorError(
                f"latent edits {used} act through the autoencoder at {sae.hook_name}: remove "
                "them before loading another there"
            )
        if sae.path is None:
            sae.save(_saved_folder(sae))
        self._sources.saes[sae.hook_name] = sae
        return sae

    def edit_latent(
        self,
        node: str,
        latent: int,
        action: str = "ablate",
        *,
        scale: float = 0.0,
        source_prompt: str = "",
        positions: list[int] | None = None,
    ) -> Intervention:
        """Add a latent edit at ``node`` (an MLP or residual node whose hook has an autoencoder
        loaded): ``action`` "ablate" (zero), "steer" (``scale`` added) or "patch" (its value on
        ``source_prompt``), at ``positions`` (None: all)."""
        try:
            spec = Latent(node=node, latent=latent, action=action, scale=scale,  # type: ignore[arg-type]
                          source_prompt=source_prompt, positions=positions)  # fmt: skip
        except ValidationError as error:
            raise TranspectorError(f"edit_latent: {first_error(error)}") from None
        return self.add(spec)

    def _check_latent(self, spec: Latent, n_pos: int) -> None:
        (step,) = plan(spec, self.graph)
        sae = sae_for(step, self._sources.saes)
        latent_value(step, sae, n_pos, self._sources, lambda p: int(self._tokens(p).shape[1]))

    def _check_sae(self, sae: SparseAutoencoder) -> None:
        if sae.hook_name not in self._adapter.hook_names:
            raise TranspectorError(
                f"the autoencoder reads {sae.hook_name!r}, which is not a hook of this model"
            )
        width = hook_width(self._adapter, sae.hook_name)
        if width != [sae.d_in]:
            raise TranspectorError(
                f"the autoencoder's d_in is {sae.d_in} but {sae.hook_name} has {width} "
                "per token: it was trained on another hook or model"
            )


def hook_width(adapter: ModelAdapter, hook: str) -> list[int]:
    """The shape of ``hook``'s activation per token, read from a one-token forward."""
    tokens = torch.zeros(1, 1, dtype=torch.long, device=adapter.cfg.device)
    return list(capture_until(adapter, tokens, hook).shape[2:])


def _saved_folder(sae: SparseAutoencoder) -> str:
    """A folder under the cache named by the autoencoder's weights."""
    return str(cache_root() / "saes" / sae.digest()[:16])
