"""The ``generation`` tool: clean and steered text with one seed, streamed as progress."""

from __future__ import annotations

from typing import TYPE_CHECKING

from transpector.kernel import generation
from transpector.kernel.tools.base import Cancelled, Step, Steps, Tool
from transpector.protocol.generation import GeneratedText, GenerationArgs, GenerationResult
from transpector.protocol.tools import GENERATION as CONTRACT

if TYPE_CHECKING:
    from transpector.kernel.session import Session


def steps(session: Session, args: GenerationArgs) -> Steps:
    """Clean first (with ``compare``), then with the interventions; each token is a step whose
    label is ``"<column>: <text so far>"``. Cancel ends the call with what came so far."""
    text = args.text or session.prompt
    columns = [False, True] if args.compare else [True]
    starts = {applied: generation.start(session, text, args, applied) for applied in columns}
    total = args.max_new_tokens * len(columns)
    done: dict[bool, GeneratedText] = {}
    for n, applied in enumerate(columns):
        name = "steered" if applied else "clean"
        tokens = generation.new_tokens(session, starts[applied], args, applied)
        ids: list[int] = []
        stopped = "length"
        while True:
            try:
                ids.append(next(tokens))
            except StopIteration as end:
                stopped = end.value
                break
            so_far = session.model.tokenizer.decode(ids)
            try:
                yield Step(n * args.max_new_tokens + len(ids), total, f"{name}: {so_far}")
            except Cancelled:
                stopped = "cancelled"
                break
        done[applied] = generation.generated(session, ids, stopped, applied)
        if stopped == "cancelled":
            break
    steered = done.get(True) or generation.generated(session, [], "cancelled", True)
    return GenerationResult(
        prompt=text,
        seed=args.seed,
        temperature=args.temperature,
        steered=steered,
        clean=done.get(False),
    )


GENERATION = Tool(CONTRACT, steps=steps)
