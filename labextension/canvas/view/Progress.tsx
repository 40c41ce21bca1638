/**
 * A long tool under way: its progress bar, how far it got, and Cancel (by the task id the
 * kernel's progress messages carry).
 */
import * as React from 'react';

import type { ToolProgress } from '../store';

export function ProgressRow({ progress, onCancel }: { progress?: ToolProgress; onCancel: (taskId: string) => void }): React.ReactElement {
  return (
    <>
      <progress max={progress?.total ?? 1} value={progress?.done ?? 0} aria-label="Progress" />
      <span className="jp-Transpector-dim" title={progress?.label}>
        {progress ? `${progress.done} of ${progress.total}` : 'starting…'}
      </span>
      <button className="jp-Transpector-button" disabled={!progress} onClick={() => progress && onCancel(progress.taskId)}>
        Cancel
      </button>
    </>
  );
}
