/**
 * Every intervention in the session, with remove, clear and "copy as Python" (GET api/code).
 * A change sent but not yet taken by the kernel (a cell keeps it busy) shows as pending.
 */
import * as React from 'react';

import type { Intervention } from '../../protocol.generated';
import { describeIntervention } from '../format';
import { CanvasSnapshot, CanvasStore, PendingChange } from '../store';
import { memoCard } from './memo';

function InterventionsCard(props: {
  store: CanvasStore;
  snap: CanvasSnapshot;
  copy: (text: string) => void;
}): React.ReactElement {
  const { store, snap, copy } = props;
  const list = snap.state?.interventions ?? [];
  const removing = new Set(snap.pending.flatMap(p => (p.op.op === 'remove_intervention' ? [p.op.id] : [])));
  const clearing = snap.pending.some(p => p.op.op === 'clear_interventions');
  // The code copied, for the state version it was copied at (a later change makes it stale).
  const [copied, setCopied] = React.useState<{ text: string; version: number | null } | null>(null);
  const code = copied !== null && copied.version === snap.version ? copied.text : null;
  const [copyError, setCopyError] = React.useState<string | null>(null);
  const copyCode = async (): Promise<void> => {
    try {
      const version = snap.version;
      const text = await store.reads.fetchCode();
      copy(text);
      setCopied({ text, version });
      setCopyError(null);
    } catch (error) {
      setCopyError(error instanceof Error ? error.message : String(error));
    }
  };
  return (
    <section className="jp-Transpector-card jp-Transpector-interventions" aria-label="Interventions">
      <h3>
        Interventions <span className="jp-Transpector-dim">{list.length}</span>
      </h3>
      <PendingAdds pending={snap.pending} />
      {list.length === 0 ? (
        <p className="jp-Transpector-dim">None: the model runs clean. Use a head's ⊘ button to zero-ablate it.</p>
      ) : (
        <ul>
          {list.map(i => (
            <li
              key={i.id}
              className="jp-Transpector-intervention"
              data-node-id={i.node}
              data-kind={i.kind}
              data-pending={clearing || (i.id && removing.has(i.id)) ? 'remove' : undefined}
            >
              <span>{describeIntervention(i)}</span>
              <button
                className="jp-Transpector-button"
                aria-label={`Remove ${describeIntervention(i)}`}
                onClick={() => i.id && store.send({ op: 'remove_intervention', id: i.id })}
              >
                Remove
              </button>
            </li>
          ))}
        </ul>
      )}
      <div className="jp-Transpector-row">
        <button className="jp-Transpector-button" onClick={() => void copyCode()}>
          Copy as Python
        </button>
        {list.length > 0 && (
          <button className="jp-Transpector-button" onClick={() => store.send({ op: 'clear_interventions' })}>
            Clear all
          </button>
        )}
      </div>
      {copyError && <p className="jp-Transpector-errortext">{copyError}</p>}
      {code !== null && (
        <details className="jp-Transpector-code">
          <summary>Copied {code.split('\n').length} lines of Python</summary>
          <pre>{code}</pre>
        </details>
      )}
    </section>
  );
}

/** Additions sent and not yet taken: the kernel is busy (a cell runs) or the answer is on its way. */
function PendingAdds({ pending }: { pending: readonly PendingChange[] }): React.ReactElement | null {
  const adds: Intervention[] = pending.flatMap(p =>
    p.op.op === 'add_intervention' ? [p.op.intervention] : p.op.op === 'add_interventions' ? p.op.interventions : []
  );
  if (!adds.length) {
    return null;
  }
  return (
    <ul className="jp-Transpector-pending" aria-label="Waiting for the kernel">
      {adds.map((i, n) => (
        <li key={n} className="jp-Transpector-intervention" data-node-id={i.node} data-pending="add" title="Sent; the kernel takes it when it is free">
          <span>⧗ {describeIntervention(i)}</span>
          <span className="jp-Transpector-dim">waiting for the kernel…</span>
        </li>
      ))}
    </ul>
  );
}

export const Interventions = memoCard(InterventionsCard, 'state', 'pending');
