/**
 * The main-area widget: owns one CanvasStore for one kernel and renders CanvasView.
 */
import { Clipboard } from '@jupyterlab/apputils';
import type { IRenderMimeRegistry } from '@jupyterlab/rendermime';
import type { Kernel } from '@jupyterlab/services';
import { ReactWidget } from '@jupyterlab/ui-components';
import type { Message } from '@lumino/messaging';
import { ISignal, Signal } from '@lumino/signaling';
import * as React from 'react';

import { transpectorIcon } from '../icon';
import { commTransport } from './commTransport';
import { kernelChannel } from './kernelComm';
import { kernelTransport } from './kernelTransport';
import { reachingTransport } from './reachingTransport';
import { CanvasStore } from './store';
import { Transport } from './transport';
import { CanvasView } from './view/CanvasView';

let widgetCount = 0;

export interface CanvasWidgetOptions {
  kernelId: string;
  /** What the tab says after "Transpector": usually the notebook's name. */
  label: string;
  /** For tests and benchmarks; defaults to the kernel's proxied app. */
  transport?: (kernelId: string) => Transport;
  /** JupyterLab's renderers (notes are drawn as Markdown with them). */
  rendermime?: IRenderMimeRegistry | null;
  /** The kernel's connection, for its comm channel when the proxy cannot reach its app. */
  kernel?: () => Kernel.IKernelConnection | null;
}

export class CanvasWidget extends ReactWidget {
  private _store: CanvasStore;
  private _kernelId: string;
  private readonly _transport: (kernelId: string) => Transport;
  private readonly _rendermime: IRenderMimeRegistry | null;
  private readonly _storeChanged = new Signal<this, CanvasStore>(this);

  constructor(options: CanvasWidgetOptions) {
    super();
    this._kernelId = options.kernelId;
    const kernel = options.kernel ?? (() => null);
    this._transport =
      options.transport ?? (id => reachingTransport(kernelTransport(id), () => commTransport(kernelChannel(kernel))));
    this._rendermime = options.rendermime ?? null;
    this.id = `transpector-canvas-${++widgetCount}`;
    this.addClass('jp-TranspectorCanvas');
    this.title.icon = transpectorIcon;
    this.title.closable = true;
    this.setLabel(options.label);
    this._store = new CanvasStore(this._transport(this._kernelId));
    this._store.start();
  }

  get kernelId(): string {
    return this._kernelId;
  }

  get store(): CanvasStore {
    return this._store;
  }

  /** A new store: the canvas follows another kernel (see retarget). */
  get storeChanged(): ISignal<this, CanvasStore> {
    return this._storeChanged;
  }

  setLabel(label: string): void {
    this.title.label = `Transpector · ${label}`;
    this.title.caption = `Transpector canvas of kernel ${this._kernelId}`;
  }

  /** The notebook switched to another kernel: follow it with a fresh store. */
  retarget(kernelId: string): void {
    if (kernelId === this._kernelId) {
      return;
    }
    const status = this._store.snapshot.kernelStatus;
    this._store.dispose();
    this._kernelId = kernelId;
    this._store = new CanvasStore(this._transport(kernelId));
    this._store.setKernelStatus(status);
    this._store.start();
    this._storeChanged.emit(this._store);
    this.update();
  }

  /** Closing the tab ends this view (its websocket too), so opening the canvas again makes a new
   * one instead of re-activating a detached widget. */
  protected onCloseRequest(msg: Message): void {
    super.onCloseRequest(msg);
    this.dispose();
  }

  dispose(): void {
    if (!this.isDisposed) {
      this._store.dispose();
    }
    super.dispose();
  }

  protected render(): React.ReactElement {
    return (
      <CanvasView
        key={this._kernelId}
        store={this._store}
        copy={text => Clipboard.copyToSystem(text)}
        rendermime={this._rendermime}
      />
    );
  }
}
