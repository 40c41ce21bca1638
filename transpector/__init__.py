"""Transpector: a live graph of a TransformerLens model beside the notebook.

Importing this package stays light (no torch): the Jupyter server imports it for the server
extension. The model-side API is loaded on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from transpector._version import __version__
from transpector.errors import TranspectorError

if TYPE_CHECKING:
    from transpector.kernel.attach import attach
    from transpector.kernel.circuitsvis_views import offline
    from transpector.kernel.loading import load_default_model, load_model
    from transpector.kernel.sae.model import SparseAutoencoder, load_sae
    from transpector.kernel.session import Session
    from transpector.protocol.datasets import DatasetSpec
    from transpector.protocol.interventions import Ablate, Freeze, Isolate, Patch
    from transpector.protocol.metric import LogitDiff, PromptPair, TokenLoss, TopProb

_LAZY = {
    "attach": "transpector.kernel.attach",
    "Session": "transpector.kernel.session",
    "load_default_model": "transpector.kernel.loading",
    "load_model": "transpector.kernel.loading",
    "offline": "transpector.kernel.circuitsvis_views",
    "load_sae": "transpector.kernel.sae.model",
    "SparseAutoencoder": "transpector.kernel.sae.model",
    "DatasetSpec": "transpector.protocol.datasets",
    **dict.fromkeys(("Ablate", "Freeze", "Isolate", "Patch"), "transpector.protocol.interventions"),
    **dict.fromkeys(
        ("LogitDiff", "PromptPair", "TokenLoss", "TopProb"), "transpector.protocol.metric"
    ),
}

__all__ = [
    "Ablate",
    "DatasetSpec",
    "Freeze",
    "Isolate",
    "LogitDiff",
    "Patch",
    "PromptPair",
    "Session",
    "SparseAutoencoder",
    "TokenLoss",
    "TopProb",
    "TranspectorError",
    "__version__",
    "attach",
    "load_default_model",
    "load_model",
    "load_sae",
    "offline",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'transpector' has no attribute {name!r}")


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    return [{"module": "transpector.server"}]


def _jupyter_labextension_paths() -> list[dict[str, str]]:
    return [{"src": "labextension", "dest": "transpector"}]
