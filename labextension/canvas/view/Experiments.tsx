/**
 * Saved experiments: save the session (a name that is taken asks before overwriting), list what
 * was saved (time, metric, interventions), restore or delete one (delete asks first), and compare
 * two: the interventions only one of them has, what else differs, and both metrics. Everything
 * goes through the store as operations; the kernel refuses what it cannot restore.
 */
import { Dialog, showDialog } from '@jupyterlab/apputils';
import * as React from 'react';

import type { ExperimentDiff, ExperimentInfo } from '../../protocol.generated';
import { isTaken, metricText, otherModel, savedAt } from '../experiments';
import { describeIntervention, plural } from '../format';
import { CanvasSnapshot, CanvasStore } from '../store';
import { memoCard } from './memo';

interface Props {
  store: CanvasStore;
  snap: CanvasSnapshot;
}

async function confirm(title: string, body: string, label: string): Promise<boolean> {
  const answer = await showDialog({
    title,
    body,
    buttons: [Dialog.cancelButton(), Dialog.warnButton({ label })]
  });
  return answer.button.accept;
}

function ExperimentsCard({ store, snap }: Props): React.ReactElement {
  const list = snap.state?.experiments ?? [];
  const [name, setName] = React.useState('');
  const [compared, setCompared] = React.useState<string[]>([]);
  const save = async (event: React.FormEvent): Promise<void> => {
    event.preventDefault();
    const chosen = name.trim();
    const overwrite = isTaken(list, chosen);
    if (overwrite && !(await confirm('Overwrite experiment?', `An experiment named “${chosen}” exists. Overwrite it with the current state?`, 'Overwrite'))) {
      return;
    }
    if (store.send({ op: 'save_experiment', name: chosen, overwrite }) !== null) {
      setName('');
    }
  };
  const remove = async (info: ExperimentInfo): Promise<void> => {
    if (await confirm('Delete experiment?', `Delete the saved experiment “${info.name}”? This cannot be undone.`, 'Delete')) {
      store.send({ op: 'delete_experiment', name: info.name });
      setCompared(names => names.filter(n => n !== info.name));
    }
  };
  const toggleCompared = (experiment: string): void =>
    setCompared(names => (names.includes(experiment) ? names.filter(n => n !== experiment) : [...names.slice(-1), experiment]));
  const shown = compared.filter(n => isTaken(list, n));
  return (
    <section className="jp-Transpector-card jp-Transpector-experiments" aria-label="Saved experiments" data-count={list.length}>
      <h3>
        Saved experiments <span className="jp-Transpector-dim">{list.length}</span>
      </h3>
      <form className="jp-Transpector-row jp-Transpector-experiment-form" onSubmit={e => void save(e)} onKeyDown={e => e.stopPropagation()}>
        <input aria-label="Experiment name" placeholder="name, e.g. L23.H3 off" value={name} maxLength={80} spellCheck={false} onChange={e => setName(e.target.value)} />
        <button className="jp-Transpector-button" type="submit" disabled={!name.trim()}>
          Save experiment
        </button>
      </form>
      {list.length === 0 ? (
        <p className="jp-Transpector-dim">
          None yet. Saving keeps the prompts, pairs, metric, interventions, notes and the tools’ last results; from a cell:{' '}
          <code>session.save_experiment("name")</code>.
        </p>
      ) : (
        <ul className="jp-Transpector-experiment-list">
          {list.map(info => (
            <ExperimentRow
              key={info.name}
              info={info}
              modelName={snap.graph?.model_name}
              compared={shown.includes(info.name)}
              onCompare={() => toggleCompared(info.name)}
              onRestore={() => store.send({ op: 'restore_experiment', name: info.name })}
              onDelete={() => void remove(info)}
            />
          ))}
        </ul>
      )}
      {shown.length === 2 && <Diff store={store} a={shown[0]} b={shown[1]} listVersion={snap.version} />}
    </section>
  );
}

function ExperimentRow(props: {
  info: ExperimentInfo;
  modelName: string | undefined;
  compared: boolean;
  onCompare: () => void;
  onRestore: () => void;
  onDelete: () => void;
}): React.ReactElement {
  const { info, modelName, compared, onCompare, onRestore, onDelete } = props;
  const elsewhere = otherModel(info, modelName);
  return (
    <li className="jp-Transpector-experiment" data-name={info.name} data-metric={info.metric?.value ?? ''} data-saved-at={info.saved_at}>
      <div className="jp-Transpector-row">
        <label className="jp-Transpector-experiment-name" title={`Compare ${info.name}`}>
          <input type="checkbox" checked={compared} onChange={onCompare} aria-label={`Compare ${info.name}`} />
          {info.name}
        </label>
        <span className="jp-Transpector-spacer" />
        <button className="jp-Transpector-button" onClick={onRestore} disabled={elsewhere !== null} title={elsewhere ?? `Restore ${info.name}`} aria-label={`Restore ${info.name}`}>
          Restore
        </button>
        <button className="jp-Transpector-button" onClick={onDelete} aria-label={`Delete ${info.name}`}>
          Delete
        </button>
      </div>
      <div className="jp-Transpector-dim jp-Transpector-experiment-meta">
        {savedAt(info)} · {plural(info.n_interventions ?? 0, 'intervention')} · <span className="jp-Transpector-experiment-metric">{metricText(info.metric)}</span>
        {elsewhere && <span className="jp-Transpector-experiment-elsewhere"> · {elsewhere}</span>}
      </div>
    </li>
  );
}

function Diff({ store, a, b, listVersion }: { store: CanvasStore; a: string; b: string; listVersion: number | null }): React.ReactElement {
  const [diff, setDiff] = React.useState<ExperimentDiff | null>(null);
  const [problem, setProblem] = React.useState<string | null>(null);
  React.useEffect(() => {
    let live = true;
    setDiff(null);
    store.reads.fetchExperimentDiff(a, b).then(
      answer => live && (setDiff(answer), setProblem(null)),
      (error: unknown) => live && setProblem(error instanceof Error ? error.message : String(error))
    );
    return () => {
      live = false;
    };
  }, [store, a, b, listVersion]);
  if (problem) {
    return (
      <p className="jp-Transpector-experiment-problem" role="alert">
        {problem}
      </p>
    );
  }
  if (!diff) {
    return <p className="jp-Transpector-dim">Comparing…</p>;
  }
  const same = diff.only_in_a.length === 0 && diff.only_in_b.length === 0;
  return (
    <div className="jp-Transpector-experiment-diff" role="group" aria-label={`${a} compared with ${b}`}>
      <h4>
        {a} → {b}
      </h4>
      <p>
        Metric: <span data-side="a">{metricText(diff.metric_a)}</span> → <span data-side="b">{metricText(diff.metric_b)}</span>
      </p>
      {same && <p className="jp-Transpector-dim">The same interventions.</p>}
      <DiffList title={`Only in ${a}`} side="a" items={diff.only_in_a.map(describeIntervention)} />
      <DiffList title={`Only in ${b}`} side="b" items={diff.only_in_b.map(describeIntervention)} />
      {diff.other_fields.length > 0 && <p>Also differs: {diff.other_fields.join(', ').replace(/_/g, ' ')}</p>}
    </div>
  );
}

function DiffList({ title, side, items }: { title: string; side: string; items: string[] }): React.ReactElement | null {
  if (items.length === 0) {
    return null;
  }
  return (
    <div className="jp-Transpector-diff-side" data-side={side}>
      <strong>{title}</strong>
      <ul>
        {items.map((text, i) => (
          <li key={i}>{text}</li>
        ))}
      </ul>
    </div>
  );
}

export const Experiments = memoCard(ExperimentsCard, 'state', 'graph', 'version');
