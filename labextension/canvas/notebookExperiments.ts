/**
 * A notebook carries its kernel's saved experiments in its metadata (`transpector.experiments`):
 * when the canvas meets a session (a new kernel, a restart), the notebook's experiments that the
 * session lacks are imported; whenever the session's list changes, the full list is written back
 * (the notebook then has unsaved changes, as after any edit). Experiments the kernel refused to
 * import stay in the metadata: nothing the notebook held is dropped.
 */
import type { ReadonlyPartialJSONValue } from '@lumino/coreutils';

import type { Experiment } from '../protocol.generated';
import { METADATA_KEY, listKey, missingFromSession, notebookExperiments } from './experiments';
import type { CanvasStore } from './store';
import type { CanvasWidget } from './widget';

/** What the canvas needs of a notebook's model. */
export interface MetadataHolder {
  getMetadata(key: string): unknown;
  setMetadata(key: string, value: ReadonlyPartialJSONValue): void;
}

export function keepExperimentsInNotebook(widget: CanvasWidget, notebook: () => MetadataHolder | null): void {
  let stop = follow(widget.store, notebook);
  const restart = (): void => {
    stop();
    stop = follow(widget.store, notebook);
  };
  widget.storeChanged.connect(restart);
  widget.disposed.connect(() => {
    stop();
    widget.storeChanged.disconnect(restart);
  });
}

export function follow(store: CanvasStore, notebook: () => MetadataHolder | null): () => void {
  let importedFor: string | null = null;
  let written = '';
  const refused = new Map<string, Experiment>(); // sent for import, not (yet) in the session
  const check = (): void => {
    const snap = store.snapshot;
    const model = notebook();
    if (!snap.state || snap.connection.kind !== 'live' || !model) {
      return;
    }
    const list = snap.state.experiments ?? [];
    list.forEach(e => refused.delete(e.name));
    if (importedFor !== snap.sessionId) {
      importedFor = snap.sessionId;
      const missing = missingFromSession(notebookExperiments(model.getMetadata(METADATA_KEY)), list);
      if (missing.length > 0) {
        missing.forEach(e => refused.set(e.name, e));
        store.send({ op: 'import_experiments', experiments: missing });
        written = listKey(list); // the notebook already holds this list and more
        return;
      }
    }
    const key = listKey(list);
    if (key === written) {
      return;
    }
    written = key;
    store.reads.fetchExperiments().then(
      bodies => {
        if (written !== key) {
          return; // a newer list is on its way
        }
        const names = new Set(bodies.map(e => e.name));
        const kept = [...refused.values()].filter(e => !names.has(e.name));
        const next = { experiments: [...bodies, ...kept] };
        if (JSON.stringify(model.getMetadata(METADATA_KEY) ?? null) !== JSON.stringify(next)) {
          model.setMetadata(METADATA_KEY, next as unknown as ReadonlyPartialJSONValue);
        }
      },
      () => {
        written = ''; // try again on the next change
      }
    );
  };
  check();
  return store.subscribe(check);
}
