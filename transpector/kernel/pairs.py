"""Clean/corrupt prompt pairs: checked when they are set, so that no patch of a pair fails later."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import torch
from pydantic import ValidationError

from transpector.errors import TranspectorError, first_error
from transpector.protocol.metric import PromptPair
from transpector.protocol.patching import PairArgs

if TYPE_CHECKING:
    from transpector.kernel.session import Session


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


def pick_pair(session: Session, args: PairArgs, what: str) -> PromptPair:
    """The pair a pair tool (``what``: "activation patching", ...) runs on: ``clean`` and
    ``corrupt`` from its args, else the session's pair ``args.pair`` (default its first)."""
    if args.clean is not None or args.corrupt is not None:
        if args.clean is None or args.corrupt is None:
            raise TranspectorError("give both clean and corrupt prompts, or neither")
        if args.pair is not None:
            raise TranspectorError("give a pair index or clean and corrupt prompts, not both")
        pair = (args.clean, args.corrupt)
        return check_pair(lambda text: session.adapter.to_tokens(text, session.graph.n_ctx), pair)
    pairs = session.pairs
    if not pairs:
        raise TranspectorError(
            f"{what} needs a clean/corrupt pair: add one with "
            "session.add_pair(clean, corrupt), or pass clean= and corrupt="
        )
    index = args.pair or 0
    if index >= len(pairs):
        raise TranspectorError(f"pair {index} out of range: the session has {len(pairs)}")
    return pairs[index]
