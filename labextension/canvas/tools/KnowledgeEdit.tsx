/**
 * Knowledge edit: a rank-one edit (ROME) of one MLP so that a prompt about a subject goes on
 * with a new target. *Compute* runs the `knowledge_edit` tool (progress: the MLP's keys over the
 * dataset, then the search for the new value; Cancel stops it); its report gives the target's
 * probability and the top token, clean and edited, on the prompt, on paraphrases and on
 * unrelated prompts. *Apply* adds the edit as an intervention: it is listed with the others,
 * Remove takes it away, and the weights never change. The MLP follows the graph's selection.
 */
import * as React from 'react';

import type { EditCheck, KnowledgeEditResult } from '../../protocol.generated';
import { percent, quoteToken } from '../format';
import { CanvasSnapshot, CanvasStore, toolAnswer } from '../store';
import { memoCard } from '../view/memo';
import { ProgressRow } from '../view/Progress';
import { editedMlp, sameEdit } from '../knowledgeEdit';

const KEY = 'knowledge_edit';
const EXAMPLE = {
  text: 'The Eiffel Tower is located in the city of',
  subject: 'The Eiffel Tower',
  target: ' Rome',
  paraphrases: 'Where is the Eiffel Tower? It is in the city of',
  unrelated: 'The capital of France is\nThe Colosseum is located in the city of'
};

function KnowledgeEditCard({ store, snap }: { store: CanvasStore; snap: CanvasSnapshot }): React.ReactElement {
  const [fields, setFields] = React.useState(EXAMPLE);
  const node = editedMlp(snap.view.selectedNode, snap.graph?.n_layers ?? 1);
  const answer = toolAnswer<'knowledge_edit'>(snap, KEY);
  const running = answer?.status === 'loading';
  const lines = (value: string): string[] => value.split('\n').filter(line => line.trim() !== '');
  const field = (name: keyof typeof EXAMPLE) => (event: React.ChangeEvent<HTMLInputElement | HTMLTextAreaElement>) =>
    setFields(old => ({ ...old, [name]: event.target.value }));
  const compute = (event: React.FormEvent): void => {
    event.preventDefault();
    const { text, subject, target } = fields;
    store.runTool(KEY, 'knowledge_edit', { node, text, subject, target, paraphrases: lines(fields.paraphrases), unrelated: lines(fields.unrelated) });
  };
  const result = answer?.status === 'ready' ? answer.result : null;
  const applied = (snap.state?.interventions ?? []).find(i => result !== null && sameEdit(i, result.spec));
  const toggle = (): void => {
    if (applied?.id) {
      store.send({ op: 'remove_intervention', id: applied.id });
    } else if (result !== null) {
      store.send({ op: 'add_intervention', intervention: result.spec });
    }
  };
  return (
    <section className="jp-Transpector-card jp-Transpector-knowledge" aria-label="Knowledge edit">
      <h3>
        Knowledge edit <span className="jp-Transpector-dim">a rank-one edit (ROME) of {node}; select another MLP on the graph</span>
      </h3>
      <form className="jp-Transpector-knowledge-form" aria-label="Edit a fact" onSubmit={compute} onKeyDown={e => e.stopPropagation()}>
        <label className="jp-Transpector-field">
          prompt
          <input aria-label="Fact prompt" value={fields.text} spellCheck={false} onChange={field('text')} />
        </label>
        <label className="jp-Transpector-field">
          subject
          <input aria-label="Subject" value={fields.subject} spellCheck={false} onChange={field('subject')} />
        </label>
        <label className="jp-Transpector-field">
          new target
          <input aria-label="New target" value={fields.target} spellCheck={false} onChange={field('target')} />
        </label>
        <div className="jp-Transpector-generation-columns">
          <textarea aria-label="Paraphrases" placeholder="paraphrases: one prompt a line" value={fields.paraphrases} rows={2} onChange={field('paraphrases')} />
          <textarea aria-label="Unrelated prompts" placeholder="unrelated prompts: one a line" value={fields.unrelated} rows={2} onChange={field('unrelated')} />
        </div>
        <div className="jp-Transpector-row">
          <button className="jp-Transpector-button" type="submit" disabled={running}>
            Compute edit
          </button>
          {running && <ProgressRow progress={answer.progress} onCancel={id => store.cancel(id)} />}
          {running && <span className="jp-Transpector-dim">{answer.progress?.label}</span>}
        </div>
      </form>
      {answer?.status === 'error' && <p className="jp-Transpector-errortext">{answer.message}</p>}
      {result !== null && <Report result={result} applied={applied !== undefined} onToggle={toggle} />}
    </section>
  );
}

function Report(props: { result: KnowledgeEditResult; applied: boolean; onToggle: () => void }): React.ReactElement {
  const { result, applied, onToggle } = props;
  const target = result.target_tokens.map(quoteToken).join(' ');
  return (
    <div className="jp-Transpector-knowledge-report" data-applied={applied}>
      <p>
        <button className="jp-Transpector-button" onClick={onToggle} title="An intervention: in the state and in session.code()">
          {applied ? 'Remove edit' : 'Apply edit'}
        </button>{' '}
        <span className="jp-Transpector-dim">
          {result.node} · target {target} · loss {result.loss.toFixed(3)} after {result.steps} steps · keys from {result.dataset.name} ({result.dataset.n_tokens} tokens)
        </span>
      </p>
      <table className="jp-Transpector-knowledge-checks" aria-label="Edit report">
        <thead>
          <tr>
            <th>prompt</th>
            <th>top-1: clean → edited</th>
            <th>p(target)</th>
          </tr>
        </thead>
        <tbody>{result.checks.map((check, i) => <CheckRow key={i} check={check} />)}</tbody>
      </table>
    </div>
  );
}

function CheckRow({ check }: { check: EditCheck }): React.ReactElement {
  const changed = check.top_before !== check.top_after;
  const good = check.role === 'unrelated' ? !changed : check.target_after > check.target_before;
  return (
    <tr data-role={check.role} data-good={good}>
      <td>
        <span className="jp-Transpector-dim">{check.role}</span> {check.prompt}
      </td>
      <td data-changed={changed}>
        {quoteToken(check.top_before)} → {quoteToken(check.top_after)}
      </td>
      <td>
        {percent(check.target_before)} → {percent(check.target_after)}
      </td>
    </tr>
  );
}

export const KnowledgeEdit = memoCard(KnowledgeEditCard, 'tools', 'view', 'state', 'graph');
