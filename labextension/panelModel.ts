/**
 * DOM-free state of the side panel: the server's version and its kernels, each with whether it
 * has a Transpector session and which model (GET /transpector/sessions; /transpector/info alone
 * when the sessions route is missing, then "attached" is unknown), and the notebooks on it
 * (JupyterLab's own sessions, given as `uses`).
 */
import { ISignal, Signal } from '@lumino/signaling';

import { ServerInfo, SessionInfo, requestJSON } from './api';
import { KernelRow, KernelUse, kernelRows } from './panelRows';

export type { KernelRow } from './panelRows';

export type PanelState =
  | { kind: 'loading' }
  | { kind: 'ready'; version: string; kernels: KernelRow[] }
  | { kind: 'error'; message: string };

export class PanelModel {
  private _state: PanelState = { kind: 'loading' };
  private readonly _changed = new Signal<this, PanelState>(this);
  private _generation = 0;

  /** `uses`: which document runs on which kernel, as JupyterLab's session manager says now. */
  constructor(private readonly _uses: () => KernelUse[] = () => []) {}

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
      const kernels: KernelRow[] = kernelRows(info, sessions, this._uses());
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
