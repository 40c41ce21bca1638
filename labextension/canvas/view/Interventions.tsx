/**
 * Every intervention in the session, with remove, clear and "copy as Python" (GET api/code).
 */
import * as React from 'react';

import { describeIntervention } from '../format';
import { CanvasSnapshot, CanvasStore } from '../store';
import { memoCard } from './memo';

function InterventionsCard(props: {
  store: CanvasStore;
  snap: CanvasSnapshot;
  copy: (text: string) => void;
}): React.ReactElement {
  const { store, snap, copy } = props;
  const list = snap.state?.interventions ?? [];
  // The code copied, for the state version it was copied at (a later change makes it stale).
  const [copied, setCopied] = React.useState<{ text: string; version: number | null } | null>(null);
  const code = copied !== null && copied.version === snap.version ? copied.text : null;
  const [copyError, setCopyError] = React.useState<string | null>(null);
  const copyCode = async (): Promise<void> => {
    try {
      const version = snap.version;
      const text = await store.fetchCode();
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
      {list.length === 0 ? (
        <p className="jp-Transpector-dim">None: the model runs clean. Use a head's ⊘ button to zero-ablate it.</p>
      ) : (
        <ul>
          {list.map(i => (
            <li key={i.id} className="jp-Transpector-intervention" data-node-id={i.node} data-kind={i.kind}>
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

export const Interventions = memoCard(InterventionsCard, 'state');
