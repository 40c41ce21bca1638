/**
 * The side panel's rows, worked out from plain data: the server's kernels, the Transpector
 * session listing (the model's name travels in it) and JupyterLab's own sessions (which notebook
 * uses which kernel). Pure functions, so the panel model only fetches and the panel only renders.
 */
import type { KernelSession, ServerInfo } from './protocol.generated';

export interface KernelRow {
  id: string;
  /** The kernel spec's name, e.g. python3. */
  name: string;
  execution_state: string;
  /** null: the server could not say. */
  attached: boolean | null;
  /** The file names of the notebooks (or consoles) on this kernel; null when none is open. */
  notebook: string | null;
  /** The attached model's name; null without a session (or an older kernel's sidecar). */
  model: string | null;
}

/** One of JupyterLab's sessions: a document path and the kernel it runs on. */
export interface KernelUse {
  kernelId: string;
  path: string;
}

export function notebookName(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}

/** A model loaded from a folder (its name is the path given) as the folder's name; a hub name
 * such as `org/model` as it is. */
export function modelLabel(name: string): string {
  if (!/^([/~.]|[A-Za-z]:[\\/])/.test(name)) {
    return name;
  }
  const parts = name.split(/[\\/]/).filter(p => p !== '');
  return parts[parts.length - 1] ?? name;
}

/** `sessions` null: the listing route was not there, so nobody can say what is attached. */
export function kernelRows(info: ServerInfo, sessions: KernelSession[] | null, uses: KernelUse[]): KernelRow[] {
  const listed = new Map((sessions ?? []).map(s => [s.kernel_id, s] as const));
  return info.kernels.map(k => {
    const session = listed.get(k.id);
    const names = uses.filter(u => u.kernelId === k.id).map(u => notebookName(u.path));
    return {
      id: k.id,
      name: k.name,
      execution_state: session?.execution_state ?? k.execution_state,
      attached: sessions ? (session?.attached ?? false) : null,
      notebook: names.length > 0 ? names.join(', ') : null,
      model: session?.attached ? (session.model_name ?? null) : null
    };
  });
}
