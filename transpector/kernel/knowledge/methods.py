"""The Session's knowledge edits: ``session.edit_fact(...)`` computes a rank-one edit (ROME)
of one MLP, reports what it does and adds it as an intervention."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from transpector.kernel.interventions import edit_of, plan
from transpector.kernel.knowledge import covariance, rome
from transpector.kernel.knowledge.facts import Fact, Mlp, RankOne
from transpector.kernel.tool_calls import drive
from transpector.protocol.datasets import DatasetSpec
from transpector.protocol.interventions import EditFact
from transpector.protocol.knowledge import KnowledgeEditResult

if TYPE_CHECKING:
    from transpector.kernel.session import Session


class KnowledgeMethods:
    """Mixed into Session."""

    def edit_fact(
        self,
        prompt: str,
        subject: str,
        target: str,
        node: str,
        *,
        paraphrases: Sequence[str] = (),
        unrelated: Sequence[str] = (),
        dataset: DatasetSpec | None = None,
    ) -> KnowledgeEditResult:
        """Edit MLP ``node`` (``"L4.mlp"``) so ``prompt``, which contains ``subject``, goes on
        with ``target`` (``" Rome"``), and add the edit as an intervention (one versioned
        change; ``session.remove(result.spec.id)`` takes it away). The weights never change: the
        edit is applied by hooks inside runs. Returns the report: the target's probability and
        the top token on ``prompt``, each paraphrase and each unrelated prompt, clean and
        edited. The keys' statistics come from ``dataset`` (default: the session's)."""
        session: Session = self  # type: ignore[assignment]
        result = session.call(
            "knowledge_edit",
            node=node,
            text=prompt,
            subject=subject,
            target=target,
            paraphrases=list(paraphrases),
            unrelated=list(unrelated),
            dataset=dataset,
        )
        assert isinstance(result, KnowledgeEditResult)
        added = session.add(result.spec)
        return result.model_copy(update={"spec": added})

    def _check_edit(self, spec: EditFact) -> None:
        """An edit that can be made: computed now (with a progress bar) when not kept."""
        session: Session = self  # type: ignore[assignment]
        (step,) = plan(spec, session.graph)
        session._sources.edits.of(*edit_of(step))

    def _compute_edit(self, mlp: Mlp, fact: Fact) -> RankOne:
        session: Session = self  # type: ignore[assignment]
        spec = DatasetSpec.model_validate_json(fact.dataset) if fact.dataset else DatasetSpec()
        dataset = covariance.keys_dataset(session, spec, fact.key_windows)
        return drive(rome.edit_steps(session.adapter, mlp, fact, dataset, session.graph.n_ctx))
