/**
 * Saved experiments, DOM-free: what a row says, which names are taken, and what goes between the
 * session and a notebook's metadata (`metadata.transpector.experiments`, so the .ipynb carries
 * them): the notebook's experiments that the session lacks are imported; the session's are
 * written back whenever its list changes.
 */
import type { Experiment, ExperimentInfo, MetricValue } from '../protocol.generated';

export const METADATA_KEY = 'transpector';

export function isTaken(list: readonly ExperimentInfo[], name: string): boolean {
  return list.some(e => e.name === name.trim());
}

/** "2026-11-30 10:58 UTC" from the saved ISO time (the same for every viewer). */
export function savedAt(info: ExperimentInfo): string {
  const match = /^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2})/.exec(info.saved_at);
  return match ? `${match[1]} ${match[2]} UTC` : info.saved_at;
}

export function metricText(metric: MetricValue | null | undefined): string {
  return metric ? `${metric.label} = ${metric.value.toFixed(4)}` : 'no metric';
}

/** Why this model cannot restore it, or null when it can (the kernel checks the weights too). */
export function otherModel(info: ExperimentInfo, modelName: string | undefined): string | null {
  return modelName && info.model_name !== modelName ? `saved on ${info.model_name}` : null;
}

/** The experiments a notebook's metadata holds, as far as they look like experiments (the
 * kernel validates them in full when they are imported). */
export function notebookExperiments(metadata: unknown): Experiment[] {
  const list = (metadata as { experiments?: unknown } | undefined)?.experiments;
  if (!Array.isArray(list)) {
    return [];
  }
  return list.filter(
    (e): e is Experiment => typeof e === 'object' && e !== null && typeof (e as { name?: unknown }).name === 'string'
  );
}

/** The notebook's experiments whose names the session does not have. */
export function missingFromSession(notebook: readonly Experiment[], session: readonly ExperimentInfo[]): Experiment[] {
  const names = new Set(session.map(e => e.name));
  return notebook.filter(e => !names.has(e.name));
}

/** A key that changes whenever the session's list does (a save, an overwrite, a delete). */
export function listKey(list: readonly ExperimentInfo[]): string {
  return list.map(e => `${e.name}\u0000${e.saved_at}\u0000${e.state_version}`).join('\u0001');
}
