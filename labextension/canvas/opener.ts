/**
 * Opens (or re-activates) the canvas of a kernel beside its notebook, and keeps the canvas in
 * step with JupyterLab's own kernel status: busy/idle, restarts, a switch to another kernel.
 */
import { ILabShell, JupyterFrontEnd } from '@jupyterlab/application';
import { ISessionContext, showErrorMessage } from '@jupyterlab/apputils';
import { INotebookTracker, NotebookPanel } from '@jupyterlab/notebook';
import type { IRenderMimeRegistry } from '@jupyterlab/rendermime';
import type { Kernel } from '@jupyterlab/services';

import { keepExperimentsInNotebook } from './notebookExperiments';
import { CanvasWidget } from './widget';

export class CanvasOpener {
  private readonly _widgets = new Set<CanvasWidget>();
  private readonly _connections = new Map<string, Kernel.IKernelConnection>();

  constructor(
    private readonly _app: JupyterFrontEnd,
    private readonly _shell: ILabShell,
    private readonly _notebooks: INotebookTracker | null,
    private readonly _rendermime: IRenderMimeRegistry | null = null
  ) {}

  /** The canvas of this notebook's kernel, split to the right of the notebook; with
   * ``newView``, one more view of it even when one is open (below the first). */
  async openForNotebook(panel: NotebookPanel, newView = false): Promise<CanvasWidget | null> {
    await panel.sessionContext.ready;
    const kernel = panel.sessionContext.session?.kernel;
    if (!kernel) {
      void showErrorMessage('Transpector', 'This notebook has no kernel: start one, then open the canvas again.');
      return null;
    }
    return this._open(kernel.id, panel, newView);
  }

  /** The canvas of a kernel chosen in the side panel: beside its notebook when one is open. */
  async openForKernel(kernelId: string): Promise<CanvasWidget | null> {
    const panel = this._notebooks?.find(p => p.sessionContext.session?.kernel?.id === kernelId) ?? null;
    return this._open(kernelId, panel);
  }

  /** The notebook to use when a command names none: the current one. */
  get currentNotebook(): NotebookPanel | null {
    return this._notebooks?.currentWidget ?? null;
  }

  findNotebook(id: string): NotebookPanel | null {
    return this._notebooks?.find(p => p.id === id) ?? null;
  }

  private _open(kernelId: string, panel: NotebookPanel | null, newView = false): CanvasWidget {
    const existing = [...this._widgets].find(w => w.kernelId === kernelId);
    if (existing && !newView) {
      this._shell.activateById(existing.id);
      return existing;
    }
    const label = panel?.title.label ?? `kernel ${kernelId.slice(0, 8)}`;
    const kernel = (): Kernel.IKernelConnection | null => panel?.sessionContext.session?.kernel ?? this._connectTo(widget.kernelId);
    const widget: CanvasWidget = new CanvasWidget({ kernelId, label, rendermime: this._rendermime, kernel });
    this._widgets.add(widget);
    widget.disposed.connect(() => this._widgets.delete(widget));
    if (panel) {
      followSession(widget, panel.sessionContext);
      keepExperimentsInNotebook(widget, () => (panel.isDisposed ? null : panel.model));
      const rename = (): void => widget.setLabel(panel.title.label);
      panel.title.changed.connect(rename);
      widget.disposed.connect(() => panel.title.changed.disconnect(rename));
      const place = existing
        ? { mode: 'split-bottom' as const, ref: existing.id }
        : { mode: 'split-right' as const, ref: panel.id };
      this._shell.add(widget, 'main', place);
    } else {
      this._followKernelList(widget);
      this._shell.add(widget, 'main');
    }
    this._shell.activateById(widget.id);
    return widget;
  }

  /** A connection to a running kernel that no open notebook holds (its comm channel). */
  private _connectTo(kernelId: string): Kernel.IKernelConnection | null {
    const known = this._connections.get(kernelId);
    if (known && !known.isDisposed) {
      return known;
    }
    const kernels = this._app.serviceManager.kernels;
    const model = Array.from(kernels.running()).find(m => m.id === kernelId);
    const connection = model ? kernels.connectTo({ model }) : null;
    if (connection) {
      this._connections.set(kernelId, connection);
    }
    return connection;
  }

  /** Without a notebook: the server's kernel list (refreshed by JupyterLab) gives the status. */
  private _followKernelList(widget: CanvasWidget): void {
    const kernels = this._app.serviceManager.kernels;
    const sync = (): void => {
      for (const model of kernels.running()) {
        if (model.id === widget.kernelId) {
          widget.store.setKernelStatus(model.execution_state ?? 'unknown');
        }
      }
    };
    kernels.runningChanged.connect(sync);
    widget.disposed.connect(() => kernels.runningChanged.disconnect(sync));
    sync();
  }
}

/** Kernel status from the notebook's session context, and its kernel when it changes. */
export function followSession(widget: CanvasWidget, context: ISessionContext): void {
  const status = (): void => widget.store.setKernelStatus(context.session?.kernel?.status ?? 'unknown');
  const kernel = (): void => {
    const id = context.session?.kernel?.id;
    if (id) {
      widget.retarget(id);
    }
    status();
  };
  context.statusChanged.connect(status);
  context.kernelChanged.connect(kernel);
  widget.disposed.connect(() => {
    context.statusChanged.disconnect(status);
    context.kernelChanged.disconnect(kernel);
  });
  status();
}
