"""The ``knowledge_edit`` tool: a rank-one edit (ROME) of one MLP and what it does to the edit's
prompt, its paraphrases and unrelated prompts (see ``transpector/protocol/knowledge.py``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from transpector.errors import TranspectorError
from transpector.kernel.interventions import edit_of, plan
from transpector.kernel.knowledge import covariance, rome
from transpector.kernel.tools.base import Steps, Tool
from transpector.protocol import knowledge as k
from transpector.protocol.datasets import DatasetSpec
from transpector.protocol.interventions import EditFact
from transpector.protocol.tools import KNOWLEDGE_EDIT as CONTRACT

if TYPE_CHECKING:
    from transpector.kernel.session import Session


def steps(session: Session, args: k.KnowledgeEditArgs) -> Steps:
    keys = args.dataset or session.dataset_spec
    spec = EditFact(
        node=args.node,
        prompt=args.text,
        subject=args.subject,
        target=args.target,
        dataset=None if keys == DatasetSpec() else keys,
        key_windows=args.key_windows,
    )
    (step,) = plan(spec, session.graph)
    mlp, fact = edit_of(step)
    adapter, n_ctx = session.adapter, session.graph.n_ctx
    roles = [(args.text, "edited")] + [(p, "paraphrase") for p in args.paraphrases]
    roles += [(p, "unrelated") for p in args.unrelated]
    tokens = {p: session._tokens(p) for p, _ in roles}  # a clear error before any long work
    dataset = covariance.keys_dataset(session, keys, args.key_windows)
    edits = session._sources.edits
    edit = edits.kept(mlp, fact)
    if edit is None:
        edit = yield from rome.edit_steps(adapter, mlp, fact, dataset, n_ctx)
        edits.keep(mlp, fact, edit)
    target = rome.target_ids(adapter, args.target)
    checks = []
    for prompt, role in roles:
        with session._sweeping():
            before = _next_token(session, tokens[prompt], [])
            after = _next_token(session, tokens[prompt], edits.hooks(mlp, fact))
        checks.append(
            k.EditCheck(
                prompt=prompt,
                role=role,  # type: ignore[arg-type]
                top_before=adapter.decode([int(before.argmax())])[0],
                top_after=adapter.decode([int(after.argmax())])[0],
                target_before=float(before[target[0]]),
                target_after=float(after[target[0]]),
            )
        )
    return k.KnowledgeEditResult(
        node=args.node,
        target_tokens=adapter.decode(target),
        subject_position=rome.subject_end(adapter, args.text, args.subject),
        loss=edit.loss,
        steps=edit.steps,
        dataset=dataset.info,
        checks=checks,
        spec=spec,
    )


def _next_token(session: Session, tokens: torch.Tensor, hooks: list) -> torch.Tensor:  # type: ignore[type-arg]
    """The next-token probabilities [d_vocab] after ``tokens``, float32."""
    logits, _ = session.adapter.forward(tokens, hooks, [])
    if not torch.isfinite(logits[-1]).all():
        raise TranspectorError("the edited model's logits are not finite")
    return logits[-1].float().softmax(-1)


KNOWLEDGE_EDIT = Tool(CONTRACT, steps=steps)
