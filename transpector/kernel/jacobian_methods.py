"""The Jacobian lens from cells: ``session.fit_jacobian_lens(...)`` (a progress bar; cached on
disk), ``session.jacobian_lens`` (TransformerLens's ``JacobianLens``, for its own methods),
``session.jacobian_lens_info`` and ``session.clear_jacobian_lens_cache()``. The lens grid reads it
with ``session.tools.logit_lens(kind="jacobian")``."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from transpector.errors import TranspectorError, first_error
from transpector.kernel import jacobian_cache, jacobian_fit
from transpector.protocol import jacobian_lens as j
from transpector.protocol.datasets import DatasetSpec, TextsSource

if TYPE_CHECKING:
    from pydantic import BaseModel

    from transpector.kernel.adapter import ModelAdapter


class JacobianLensMethods:
    """Mixed into Session, which provides the adapter and ``call``."""

    _adapter: ModelAdapter
    call: Callable[..., BaseModel]

    def fit_jacobian_lens(
        self,
        dataset: DatasetSpec | Sequence[str] | None = None,
        *,
        n_prompts: int = j.DEFAULT_N_PROMPTS,
        max_seq_len: int = j.DEFAULT_MAX_SEQ_LEN,
        source_layers: list[int] | None = None,
        dim_batch: int = j.DEFAULT_DIM_BATCH,
        skip_first_positions: int = j.DEFAULT_SKIP_FIRST,
        refit: bool = False,
    ) -> j.JacobianLensInfo:
        """Fit TransformerLens's Jacobian lens on ``n_prompts`` windows of ``max_seq_len``
        tokens of ``dataset`` (a ``DatasetSpec``, a list of texts, or None: the session's
        dataset), with a progress bar; or load it from the disk cache when these weights,
        texts and options were fitted before (``refit=True`` fits again). The session then
        holds it: the lens card's Jacobian kind and ``tools.logit_lens(kind="jacobian")``
        read through it. A TranspectorError, and no change, on bad input."""
        if isinstance(dataset, str):
            raise TranspectorError("dataset is a list of texts; wrap a single text in [...]")
        try:
            spec = None
            if dataset is not None and not isinstance(dataset, DatasetSpec):
                spec = DatasetSpec(source=TextsSource(texts=list(dataset)), window=max_seq_len)
            args: dict[str, Any] = dict(
                dataset=spec if spec is not None else dataset, n_prompts=n_prompts,
                max_seq_len=max_seq_len, source_layers=source_layers, dim_batch=dim_batch,
                skip_first_positions=skip_first_positions, refit=refit,
            )  # fmt: skip
        except ValidationError as error:
            raise TranspectorError(f"fit_jacobian_lens: {first_error(error)}") from None
        info = self.call("fit_jacobian_lens", **args)
        assert isinstance(info, j.JacobianLensInfo)
        return info

    @property
    def jacobian_lens(self) -> Any | None:
        """TransformerLens's ``JacobianLens`` the session holds for the model's weights (None:
        none fitted); use its own methods (``readout``, ``lens_vectors``, ...) on the model."""
        held = jacobian_fit.held(self._adapter)
        return None if held is None else held.lens

    @property
    def jacobian_lens_info(self) -> j.JacobianLensInfo | None:
        """What the held Jacobian lens was fitted on, and how."""
        held = jacobian_fit.held(self._adapter)
        return None if held is None else held.info

    def clear_jacobian_lens_cache(self) -> int:
        """Remove every fitted Jacobian lens from disk and drop the one held; the bytes freed."""
        jacobian_fit.forget(self._adapter)
        return jacobian_cache.clear()
