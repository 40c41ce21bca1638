"""Run every prompt of the session in turn, with progress; a cancel keeps the rows done so far."""

from __future__ import annotations

from typing import TYPE_CHECKING

from transpector.kernel.tools.base import Cancelled, Step, Steps, Tool
from transpector.kernel.tools.outputs import loss, top_k
from transpector.protocol import tools as contracts
from transpector.protocol.batch import BatchRow, PromptBatchArgs, PromptBatchResult
from transpector.protocol.outputs import LossArgs, TopKArgs

if TYPE_CHECKING:
    from transpector.kernel.session import Session


def prompt_batch(session: Session, args: PromptBatchArgs) -> Steps:
    prompts = session.prompts
    rows: list[BatchRow] = []
    for done, prompt in enumerate(prompts):
        try:
            yield Step(done, len(prompts), prompt[:80])
        except Cancelled:
            break
        context = session.context(prompt, keep=False)
        losses = loss(context, LossArgs()).loss
        top = top_k(context, TopKArgs(k=1)).top_k[-1][0]
        mean = sum(losses) / max(len(losses), 1)
        rows.append(BatchRow(prompt=prompt, n_tokens=context.n_pos, mean_loss=mean, top_token=top))
    return PromptBatchResult(rows=rows, complete=len(rows) == len(prompts))


PROMPT_BATCH = Tool(contracts.PROMPT_BATCH, steps=prompt_batch)
