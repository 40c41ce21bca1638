"""Sampled text generation with the session's interventions (``session.generate_text``, and the
``generation`` tool's loop). Each new token is one full forward of the whole sequence with the
interventions as temporary hooks (valued for that length), removed before the next token.

``session.generate`` is something else: nnsight's deferred, greedy generation, whose loop body
the user writes (README, "Deferred traces").
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import TYPE_CHECKING, Any

import torch

from transpector.errors import TranspectorError
from transpector.protocol.generation import GeneratedText, GenerationArgs

if TYPE_CHECKING:
    from transpector.kernel.session import Session

Tokens = Generator[int, None, str]  # yields each new token id; returns why it stopped


TINY = float(torch.finfo(torch.float32).tiny)


def sample(logits: torch.Tensor, temperature: float, top_k: int | None, generator: Any) -> int:
    """The next token from the last position's ``logits`` [d_vocab]: the argmax at temperature
    0, else a draw from softmax(logits / temperature) over the top_k most likely (CPU draw)."""
    logits = logits.detach().float().cpu()
    if temperature < TINY:  # 0, or so small it is 0 as a float32
        return int(logits.argmax())
    # The largest logit first becomes 0, so a tiny temperature cannot overflow it to inf (which
    # softmax would turn into nan): it gives the argmax, as temperature 0 does.
    scaled = (logits - logits.max()) / temperature
    if top_k is not None and top_k < scaled.shape[-1]:
        kth = scaled.topk(top_k).values[-1]
        scaled = scaled.masked_fill(scaled < kth, float("-inf"))
    probs = torch.softmax(scaled, dim=-1)
    return int(torch.multinomial(probs, 1, generator=generator))


def start(session: Session, text: str, args: GenerationArgs, interventions: bool) -> torch.Tensor:
    """The start's token ids [1, pos], checked: it fits ``n_ctx`` with the new tokens, and every
    intervention can be valued at the longest length (else one clear error, before any work)."""
    tokens = session._tokens(text)
    n_pos, n_ctx = int(tokens.shape[1]), session.graph.n_ctx
    if n_pos + args.max_new_tokens > n_ctx:
        raise TranspectorError(
            f"generation: the text has {n_pos} tokens; with {args.max_new_tokens} new ones that "
            f"is {n_pos + args.max_new_tokens}, over this model's n_ctx of {n_ctx}"
        )
    if interventions:
        try:
            session._hooks_for(n_pos + args.max_new_tokens - 1)
        except TranspectorError as error:
            raise TranspectorError(
                f"generation: an intervention cannot apply to the generated tokens: {error}"
            ) from None
    return tokens


def new_tokens(
    session: Session, tokens: torch.Tensor, args: GenerationArgs, interventions: bool
) -> Tokens:
    """Generate after ``tokens`` [1, pos]: yields each new token id as it comes."""
    generator = torch.Generator().manual_seed(args.seed)
    end = getattr(session.model.tokenizer, "eos_token_id", None)
    ids = tokens
    for _ in range(args.max_new_tokens):
        hooks = session._hooks_for(int(ids.shape[1])) if interventions else []
        with session._sweeping(), torch.inference_mode(), session.adapter.applied(hooks) as model:
            logits = model(ids)[0, -1]
        token = sample(logits, args.temperature, args.top_k, generator)
        ids = torch.cat([ids, torch.tensor([[token]], device=ids.device)], dim=1)
        yield token
        if token == end:
            return "end_of_text"
    return "length"


def generated(session: Session, ids: list[int], stopped: str, interventions: bool) -> GeneratedText:
    text = session.model.tokenizer.decode(ids) if ids else ""
    return GeneratedText(
        text=text,
        token_ids=ids,
        tokens=session.adapter.decode(ids),
        stopped=stopped,  # type: ignore[arg-type]
        interventions=interventions,
    )


def collect(
    session: Session, tokens: Tokens, interventions: bool, on_token: Callable[[str], None]
) -> GeneratedText:
    """Run ``tokens`` to its end, calling ``on_token(text so far)`` after each token."""
    ids: list[int] = []
    while True:
        try:
            ids.append(next(tokens))
        except StopIteration as end:
            return generated(session, ids, end.value, interventions)
        on_token(session.model.tokenizer.decode(ids))
