"""``session.generate_text``: sampled generation in a cell, its text shown as it comes."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from transpector.errors import TranspectorError, first_error
from transpector.kernel import generation
from transpector.protocol.generation import GeneratedText, GenerationArgs

if TYPE_CHECKING:
    from transpector.kernel.session import Session


class GenerationMethods:
    """Mixed into Session."""

    def generate_text(
        self,
        text: str | None = None,
        max_new_tokens: int = 20,
        temperature: float = 0.0,
        seed: int = 0,
        *,
        top_k: int | None = None,
        interventions: bool = True,
        on_token: Callable[[str], Any] | None = None,
        progress: bool = True,
    ) -> GeneratedText:
        """Generate ``max_new_tokens`` after ``text`` (default: the session's prompt) with every
        active intervention applied (``interventions=False``: the clean model). Temperature 0 is
        greedy; above 0 it samples (among the ``top_k`` most likely when given) with ``seed``.
        ``on_token(text so far)`` is called after each token; ``progress`` shows a bar whose
        label is the text's end. The clean and steered text side by side, with one seed:
        ``session.tools.generation(...)``."""
        session: Session = self  # type: ignore[assignment]
        try:
            args = GenerationArgs(
                text=text or "",
                max_new_tokens=max_new_tokens,
                temperature=temperature,
                top_k=top_k,
                seed=seed,
                compare=False,
            )
        except ValidationError as error:
            raise TranspectorError(f"generate_text: {first_error(error)}") from None
        start = generation.start(session, args.text or session.prompt, args, interventions)
        tokens = generation.new_tokens(session, start, args, interventions)
        bar = _bar(args.max_new_tokens) if progress else None

        def shown(so_far: str) -> None:
            if bar is not None:
                bar.update(1)
                bar.set_postfix_str(repr(so_far[-60:]), refresh=True)
            if on_token is not None:
                on_token(so_far)

        try:
            return generation.collect(session, tokens, interventions, shown)
        finally:
            if bar is not None:
                bar.close()


def _bar(total: int) -> Any:
    from tqdm.auto import tqdm

    return tqdm(total=total, leave=False, desc="generating")
