/**
 * The hook inspector: every hook on the live model (a cell's `model.add_hook` included), and a
 * button that removes the ones Transpector does not own. Read on open, after each run, on demand.
 */
import * as React from 'react';

import type { HookInfo } from '../../protocol.generated';
import { CanvasSnapshot, CanvasStore } from '../store';

export function Hooks(props: { store: CanvasStore; snap: CanvasSnapshot }): React.ReactElement {
  const { store, snap } = props;
  const [hooks, setHooks] = React.useState<HookInfo[] | null>(null);
  const [message, setMessage] = React.useState<string | null>(null);
  const refresh = React.useCallback(async (): Promise<void> => {
    try {
      setHooks(await store.reads.fetchHooks());
      setMessage(null);
    } catch (error) {
      setMessage(error instanceof Error ? error.message : String(error));
    }
  }, [store]);
  const runVersion = snap.run?.version ?? null;
  React.useEffect(() => {
    void refresh();
  }, [refresh, runVersion]);
  const reset = async (): Promise<void> => {
    try {
      const removed = await store.reads.resetForeignHooks();
      setMessage(`Removed ${removed} hook${removed === 1 ? '' : 's'}.`);
      setHooks(await store.reads.fetchHooks());
    } catch (error) {
      setMessage(error instanceof Error ? error.message : String(error));
    }
  };
  const foreign = (hooks ?? []).filter(h => !h.owned);
  return (
    <section className="jp-Transpector-card jp-Transpector-hooks" aria-label="Hooks on the model">
      <h3>
        Hooks <span className="jp-Transpector-dim">{hooks === null ? '…' : hooks.length}</span>
      </h3>
      {hooks !== null && hooks.length === 0 && (
        <p className="jp-Transpector-dim">No hooks on the model: runs are the model as it is.</p>
      )}
      <ul>
        {(hooks ?? []).map((h, i) => (
          <li key={`${h.hook_point}-${i}`} className="jp-Transpector-hook" data-hook-point={h.hook_point}>
            <code>{h.hook_point}</code> <span>{h.function}</span>{' '}
            <span className="jp-Transpector-dim">
              {h.direction}
              {h.permanent ? ', permanent' : ''}
              {h.owned ? ', Transpector' : ''}
            </span>
          </li>
        ))}
      </ul>
      <div className="jp-Transpector-row">
        <button className="jp-Transpector-button" onClick={() => void refresh()}>
          Refresh
        </button>
        <button
          className="jp-Transpector-button"
          disabled={foreign.length === 0}
          onClick={() => void reset()}
          data-action="reset-hooks"
        >
          Reset foreign hooks
        </button>
      </div>
      {message && <p className="jp-Transpector-dim">{message}</p>}
    </section>
  );
}
