/**
 * DOM-free state of the side panel: the server's version and its kernels, each with whether it
 * has a Transpector session (GET /transpector/sessions; /transpector/info alone when the
 * sessions route is missing, then "attached" is unknown).
 */
import { ISignal, Signal } from '@lumino/signaling';

import { ServerInfo, SessionInfo, requestJSON } from './api';

export interface KernelRow {
  id: string;
  name: string;
  execution_state: string;
  /** null: the server could not say. */
  attached: boolean | null;
}

export type PanelState =
  | { kind: 'loading' }
  | { kind: 'ready'; version: string; kernels: KernelRow[] }
  | { kind: 'error'; message: string };

export class PanelModel {
  private _state: PanelState = { kind: 'loading' };
  private readonly _changed = new Signal<this, PanelState>(this);
  private _generation = 0;

  get state(): PanelState {
    return this._state;
  }

  get changed(): ISignal<this, PanelState> {
    return this._changed;
  }

  /** Fetch the version and the sessions again; the latest answer wins. */
  async refresh(): Promise<void> {
    const generation = ++this._generation;
    try {
      const [info, sessions] = await Promise.all([
        requestJSON<ServerInfo>('info'),
        requestJSON<SessionInfo[]>('sessions').catch(() => null)
      ]);
      const attached = new Map((sessions ?? []).map(s => [s.kernel_id, s] as const));
      const kernels: KernelRow[] = info.kernels.map(k => ({
        id: k.id,
        name: k.name,
        execution_state: attached.get(k.id)?.execution_state ?? k.execution_state,
        attached: sessions ? (attached.get(k.id)?.attached ?? false) : null
      }));
      if (generation === this._generation) {
        this._set({ kind: 'ready', version: info.version, kernels });
      }
    } catch (error) {
      if (generation === this._generation) {
        this._set({ kind: 'error', message: error instanceof Error ? error.message : String(error) });
      }
    }
  }

  private _set(state: PanelState): void {
    this._state = state;
    this._changed.emit(state);
  }
}
