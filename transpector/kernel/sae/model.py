"""A sparse autoencoder in plain torch, saved as sae-lens saves one: ``sae_weights.safetensors``
(``W_enc`` [d_in, d_sae], ``b_enc`` [d_sae], ``W_dec`` [d_sae, d_in], ``b_dec`` [d_in]) and
``cfg.json`` with sae-lens's field names (``d_in``, ``d_sae``, ``dtype``, ``device``,
``apply_b_dec_to_input``, ``normalize_activations``, ``reshape_activations``, ``architecture``,
``k`` for topk, and ``metadata`` with ``hook_name``, ``model_name``, ``context_size``, ...).

Encoding: ``pre = (x - b_dec) @ W_enc + b_enc``; topk keeps the k largest of ``pre`` (then
ReLU), standard is ``ReLU(pre)``. Decoding: ``f @ W_dec + b_dec``.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import torch

from transpector.errors import TranspectorError
from transpector.protocol.sae import Architecture, SaeReport

WEIGHTS_FILE = "sae_weights.safetensors"
CFG_FILE = "cfg.json"
DTYPES = {"float32": torch.float32, "float64": torch.float64, "float16": torch.float16,
          "bfloat16": torch.bfloat16}  # fmt: skip


class SparseAutoencoder(torch.nn.Module):  # type: ignore[misc]
    def __init__(
        self,
        d_in: int,
        d_sae: int,
        architecture: Architecture = "topk",
        k: int | None = None,
        hook_name: str = "",
        metadata: dict[str, Any] | None = None,
        dtype: torch.dtype = torch.float32,
    ) -> None:
        super().__init__()
        if architecture == "topk" and (k is None or not 1 <= k <= d_sae):
            raise TranspectorError(f"a topk autoencoder needs 1 <= k <= {d_sae} (d_sae), not {k}")
        self.d_in, self.d_sae, self.architecture, self.k = d_in, d_sae, architecture, k
        self.hook_name = hook_name
        self.metadata: dict[str, Any] = dict(metadata or {})
        self.report: SaeReport | None = None
        self.apply_b_dec_to_input = True
        self.path: Path | None = None  # the folder it was saved to or loaded from
        self.W_enc = torch.nn.Parameter(torch.zeros(d_in, d_sae, dtype=dtype))
        self.b_enc = torch.nn.Parameter(torch.zeros(d_sae, dtype=dtype))
        self.W_dec = torch.nn.Parameter(torch.zeros(d_sae, d_in, dtype=dtype))
        self.b_dec = torch.nn.Parameter(torch.zeros(d_in, dtype=dtype))

    def pre_acts(self, x: torch.Tensor) -> torch.Tensor:
        """[..., d_in] -> [..., d_sae], before the activation function."""
        x = x.to(self.W_enc.dtype)
        if self.apply_b_dec_to_input:
            x = x - self.b_dec
        return x @ self.W_enc + self.b_enc

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """The latents [..., d_sae] of activations [..., d_in]."""
        pre = self.pre_acts(x)
        if self.architecture == "standard":
            return torch.relu(pre)
        assert self.k is not None
        top = pre.topk(self.k, dim=-1)
        return torch.zeros_like(pre).scatter(-1, top.indices, torch.relu(top.values))

    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        """The reconstruction [..., d_in] of latents [..., d_sae]."""
        return latents @ self.W_dec + self.b_dec

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))

    def cfg(self) -> dict[str, Any]:
        """cfg.json, in sae-lens's field names."""
        cfg: dict[str, Any] = {
            "architecture": self.architecture,
            "d_in": self.d_in,
            "d_sae": self.d_sae,
            "dtype": str(self.W_enc.dtype).removeprefix("torch."),
            "device": "cpu",
            "apply_b_dec_to_input": self.apply_b_dec_to_input,
            "normalize_activations": "none",
            "reshape_activations": "none",
            "metadata": {"hook_name": self.hook_name, "hook_head_index": None, **self.metadata},
        }
        if self.architecture == "topk":
            cfg["k"] = self.k
        if self.report is not None:
            cfg["metadata"]["transpector_report"] = self.report.model_dump()
        return cfg

    def digest(self) -> str:
        """sha256 of the weights: names the autoencoder in caches and saved folders."""
        digest = hashlib.sha256()
        for tensor in (self.W_enc, self.b_enc, self.W_dec, self.b_dec):
            digest.update(tensor.detach().cpu().float().contiguous().numpy().tobytes())
        return digest.hexdigest()

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the weights and cfg.json into the folder ``path`` (made if missing)."""
        from safetensors.torch import save_file

        folder = Path(path).expanduser()
        folder.mkdir(parents=True, exist_ok=True)
        tensors = {name: p.detach().cpu().contiguous() for name, p in self.named_parameters()}
        save_file(tensors, str(folder / WEIGHTS_FILE))
        (folder / CFG_FILE).write_text(json.dumps(self.cfg(), indent=2) + "\n")
        self.path = folder.resolve()
        return folder

    def __repr__(self) -> str:
        k = f", k={self.k}" if self.architecture == "topk" else ""
        return (f"SparseAutoencoder({self.hook_name or '?'}: {self.d_in} -> {self.d_sae}, "
                f"{self.architecture}{k})")  # fmt: skip


def load_sae(path: str | os.PathLike[str]) -> SparseAutoencoder:
    """An autoencoder from a folder with ``cfg.json`` and ``sae_weights.safetensors`` (as
    ``SparseAutoencoder.save`` or sae-lens writes them; topk and standard architectures)."""
    from safetensors.torch import load_file

    folder = Path(path).expanduser()
    if not (folder / CFG_FILE).is_file() or not (folder / WEIGHTS_FILE).is_file():
        raise TranspectorError(f"no {CFG_FILE} and {WEIGHTS_FILE} in {folder}")
    try:
        cfg = json.loads((folder / CFG_FILE).read_text())
        meta = dict(cfg.get("metadata") or {})
        hook = meta.pop("hook_name", None) or cfg.get("hook_name", "")
        meta.pop("hook_head_index", None)
        report = meta.pop("transpector_report", None)
        architecture = cfg.get("architecture", "standard")
        if architecture not in ("topk", "standard"):
            raise TranspectorError(f"architecture {architecture!r}: only topk and standard load")
        if cfg.get("normalize_activations", "none") != "none":
            raise TranspectorError("only autoencoders with normalize_activations 'none' load")
        k = cfg.get("k") or (cfg.get("activation_fn_kwargs") or {}).get("k")
        sae = SparseAutoencoder(
            int(cfg["d_in"]), int(cfg["d_sae"]), architecture, k, hook, meta,
            DTYPES.get(cfg.get("dtype", "float32"), torch.float32),
        )  # fmt: skip
        sae.apply_b_dec_to_input = bool(cfg.get("apply_b_dec_to_input", True))
        tensors = load_file(str(folder / WEIGHTS_FILE))
        sae.load_state_dict({name: tensors[name] for name in ("W_enc", "b_enc", "W_dec", "b_dec")})
    except (KeyError, ValueError, RuntimeError, json.JSONDecodeError) as error:
        raise TranspectorError(f"cannot load the autoencoder in {folder}: {error}") from None
    if report is not None:
        sae.report = SaeReport.model_validate(report)
    sae.path = folder.resolve()
    return sae
