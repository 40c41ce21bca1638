"""Clean/corrupt prompt pairs: checked when they are set, so that no patch of a pair fails later."""

from __future__ import annotations

from collections.abc import Callable

import torch
from pydantic import ValidationError

from transpector.errors import TranspectorError, first_error
from transpector.protocol.metric import PromptPair


def check_pair(
    to_tokens: Callable[[str], torch.Tensor], pair: PromptPair | tuple[str, str]
) -> PromptPair:
    """``pair`` as a PromptPair whose prompts are usable and of one token count."""
    if not isinstance(pair, PromptPair):
        try:
            clean, corrupt = pair
            pair = PromptPair(clean=clean, corrupt=corrupt)
        except (TypeError, ValueError, ValidationError) as error:
            detail = first_error(error) if isinstance(error, ValidationError) else str(error)
            raise TranspectorError(f"a pair is (clean, corrupt): {detail}") from None
    n_clean = int(to_tokens(pair.clean).shape[1])
    n_corrupt = int(to_tokens(pair.corrupt).shape[1])
    if n_clean != n_corrupt:
        raise TranspectorError(
            f"the clean prompt has {n_clean} tokens and the corrupt one {n_corrupt}: a pair needs "
            "the same number, so that positions line up; reword one of them"
        )
    return pair
