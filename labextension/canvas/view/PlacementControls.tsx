/**
 * The model's device and dtype in the status bar, with selects to move or cast it (only devices
 * the kernel reports), a progress bar with Cancel while a move runs, and a link to the CUDA memory
 * page when the model is on a GPU. Errors (out of memory, ...) go to the canvas's error banner.
 */
import * as React from 'react';

import type { CanvasSnapshot, CanvasStore } from '../store';
import { deviceOptions, isSharded, memoryUrl, onCuda, placementLabel } from '../placement';
import { ProgressRow } from './Progress';

export function PlacementControls({ store, snap }: { store: CanvasStore; snap: CanvasSnapshot }): React.ReactElement | null {
  const placement = snap.state?.placement;
  if (!placement) {
    return null;
  }
  const moving = snap.moving;
  const busy = moving !== null || snap.connection.kind !== 'live';
  const device = placement.device ?? 'cpu';
  const memory = onCuda(placement) ? memoryUrl(store.reads.docsUrl) : undefined;
  return (
    <span className="jp-Transpector-placement">
      <span className="jp-Transpector-placement-label" title="Where the model's weights are, and their dtype">
        {placementLabel(placement)}
      </span>
      <select
        aria-label="Device"
        value={isSharded(placement) ? '' : device}
        disabled={busy || isSharded(placement)}
        title={isSharded(placement) ? 'Sharded by device_map: load it again to move it to one device' : 'Move the model'}
        onChange={event => store.moveModel(event.target.value, null)}
      >
        {isSharded(placement) && <option value="">sharded</option>}
        {deviceOptions(placement).map(d => (
          <option key={d} value={d}>
            {d}
          </option>
        ))}
      </select>
      <select aria-label="Dtype" value={placement.dtype ?? 'float32'} disabled={busy} onChange={event => store.moveModel(null, event.target.value)}>
        {(placement.dtypes ?? ['float32']).map(d => (
          <option key={d} value={d}>
            {d}
          </option>
        ))}
      </select>
      {moving && (
        <span className="jp-Transpector-placement-progress" title={moving.label}>
          <ProgressRow
            progress={moving.taskId ? { taskId: moving.taskId, done: moving.done, total: moving.total, label: moving.label } : undefined}
            onCancel={taskId => store.cancel(taskId)}
          />
        </span>
      )}
      {memory && (
        <a className="jp-Transpector-docs-link" href={memory} target="_blank" rel="noreferrer" title="CUDA memory now, and its history while recording (session.record_memory())">
          Memory
        </a>
      )}
    </span>
  );
}
