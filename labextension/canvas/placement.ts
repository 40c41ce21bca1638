/**
 * The model's devices and dtype as the canvas shows them, and a move under way. Pure: the
 * store keeps a `MoveProgress`, the view draws these labels and options.
 */
import type { Placement, Progress } from '../protocol.generated';

/** The task name the kernel's progress messages of a move carry. */
export const MOVE_TASK = 'move_model';

export interface MoveProgress {
  requestId: string;
  /** From the first progress message; Cancel needs it. */
  taskId: string | null;
  done: number;
  total: number;
  label: string;
}

/** "cpu · float32"; a sharded model lists every device: "cuda:0 + cuda:1 · bfloat16". */
export function placementLabel(placement: Placement | undefined | null): string {
  if (!placement) {
    return '';
  }
  const devices = placement.devices?.length ? placement.devices : [placement.device ?? 'cpu'];
  return `${devices.join(' + ')} · ${placement.dtype ?? 'float32'}`;
}

/** Devices a move can go to: what the kernel says is here (a missing one is never offered). */
export function deviceOptions(placement: Placement | undefined | null): string[] {
  return placement?.available?.length ? placement.available : ['cpu'];
}

export function isSharded(placement: Placement | undefined | null): boolean {
  return (placement?.devices?.length ?? 1) > 1;
}

export function onCuda(placement: Placement | undefined | null): boolean {
  return (placement?.devices ?? [placement?.device ?? 'cpu']).some(d => d.startsWith('cuda'));
}

/** The kernel app's memory page beside its API docs (same proxy, same login). */
export function memoryUrl(docsUrl: string | undefined): string | undefined {
  return docsUrl?.replace(/\/api\/docs$/, '/api/memory/snapshot.html');
}

/** A progress message of the move `moving` (the first one names its task), else null. */
export function moveProgressOf(moving: MoveProgress | null, message: Progress): MoveProgress | null {
  if (!moving || message.tool !== MOVE_TASK || (message.request_id ?? '') !== moving.requestId) {
    return null;
  }
  return { ...moving, taskId: message.task_id, done: message.done, total: message.total, label: message.label ?? '' };
}
