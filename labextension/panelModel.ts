/**
 * DOM-free state of the side panel: the server's version and its running kernels.
 */
import { ISignal, Signal } from '@lumino/signaling';

import { ServerInfo, requestJSON } from './api';

export type PanelState =
  | { kind: 'loading' }
  | { kind: 'ready'; info: ServerInfo }
  | { kind: 'error'; message: string };

export class PanelModel {
  private _state: PanelState = { kind: 'loading' };
  private readonly _changed = new Signal<this, PanelState>(this);

  get state(): PanelState {
    return this._state;
  }

  get changed(): ISignal<this, PanelState> {
    return this._changed;
  }

  /** Fetch /transpector/info again; the latest answer wins. */
  async refresh(): Promise<void> {
    try {
      const info = await requestJSON<ServerInfo>('info');
      this._set({ kind: 'ready', info });
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      this._set({ kind: 'error', message });
    }
  }

  private _set(state: PanelState): void {
    this._state = state;
    this._changed.emit(state);
  }
}
