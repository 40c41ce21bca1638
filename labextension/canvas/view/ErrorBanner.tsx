/** The last error the kernel sent, until the next operation goes out or × closes it. */
import * as React from 'react';

import type { CanvasSnapshot, CanvasStore } from '../store';

export function ErrorBanner({ store, snap }: { store: CanvasStore; snap: CanvasSnapshot }): React.ReactElement | null {
  if (!snap.error) {
    return null;
  }
  return (
    <div className="jp-Transpector-error" role="alert">
      <span>{snap.error.message}</span>
      <button className="jp-Transpector-button" onClick={() => store.dismissError()} aria-label="Dismiss">
        ×
      </button>
    </div>
  );
}
