/** The store's snapshot as React state: a component re-renders when the store changes. */
import * as React from 'react';

import type { CanvasSnapshot, CanvasStore } from '../store';

export function useSnapshot(store: CanvasStore): CanvasSnapshot {
  return React.useSyncExternalStore(store.subscribe, store.getSnapshot);
}
