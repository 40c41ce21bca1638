/**
 * Entry point: wires the Transpector side panel, the canvas command, its notebook toolbar
 * button and palette items into JupyterLab. Behaviour lives in the modules it imports.
 */
import { ILabShell, JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { ICommandPalette, ToolbarButton } from '@jupyterlab/apputils';
import { DocumentRegistry } from '@jupyterlab/docregistry';
import { INotebookModel, INotebookTracker, NotebookPanel } from '@jupyterlab/notebook';
import { IRenderMimeRegistry } from '@jupyterlab/rendermime';
import { DisposableDelegate, IDisposable } from '@lumino/disposable';

import { CanvasOpener } from './canvas/opener';
import { transpectorIcon } from './icon';
import { TranspectorPanel } from './panel';
import { PanelModel } from './panelModel';

const OPEN_PANEL = 'transpector:open-panel';
const OPEN_CANVAS = 'transpector:open-canvas';
const NEW_CANVAS_VIEW = 'transpector:new-canvas-view';
const PANEL_POLL_MS = 5000;

const plugin: JupyterFrontEndPlugin<void> = {
  id: 'transpector:plugin',
  description: 'A live graph of a TransformerLens model beside the notebook.',
  autoStart: true,
  requires: [ILabShell],
  optional: [ICommandPalette, INotebookTracker, IRenderMimeRegistry],
  activate: (
    app: JupyterFrontEnd,
    shell: ILabShell,
    palette: ICommandPalette | null,
    notebooks: INotebookTracker | null,
    rendermime: IRenderMimeRegistry | null
  ) => {
    const opener = new CanvasOpener(app, shell, notebooks, rendermime);
    const sessions = app.serviceManager.sessions;
    const model = new PanelModel(() =>
      Array.from(sessions.running(), s => ({ kernelId: s.kernel?.id ?? '', path: s.path }))
    );
    const panel = new TranspectorPanel(model, kernelId => void app.commands.execute(OPEN_CANVAS, { kernelId }));
    panel.title.icon = transpectorIcon;
    shell.add(panel, 'left', { rank: 600 });
    app.serviceManager.kernels.runningChanged.connect(() => void model.refresh());
    sessions.runningChanged.connect(() => void model.refresh()); // opened, closed, renamed
    void model.refresh();
    // Attaching a session changes nothing JupyterLab watches: look again while the panel shows.
    setInterval(() => panel.isVisible && void model.refresh(), PANEL_POLL_MS);

    app.commands.addCommand(OPEN_PANEL, {
      label: 'Transpector: Open Panel',
      caption: 'Show the Transpector side panel',
      icon: transpectorIcon,
      execute: () => {
        shell.activateById(panel.id);
        return model.refresh();
      }
    });
    app.commands.addCommand(OPEN_CANVAS, {
      label: 'Transpector: Open Canvas',
      caption: "Open the live graph of this notebook's model beside it",
      icon: transpectorIcon,
      describedBy: {
        args: {
          type: 'object',
          properties: { kernelId: { type: 'string' }, notebookId: { type: 'string' } }
        }
      },
      execute: async args => {
        if (typeof args.kernelId === 'string') {
          return opener.openForKernel(args.kernelId);
        }
        const notebook =
          (typeof args.notebookId === 'string' ? opener.findNotebook(args.notebookId) : null) ?? opener.currentNotebook;
        if (!notebook) {
          shell.activateById(panel.id);
          return null;
        }
        return opener.openForNotebook(notebook);
      }
    });
    app.commands.addCommand(NEW_CANVAS_VIEW, {
      label: 'Transpector: New Canvas View',
      caption: "Open one more view of this notebook's model (all views stay in sync)",
      icon: transpectorIcon,
      execute: () => {
        const notebook = opener.currentNotebook;
        return notebook ? opener.openForNotebook(notebook, true) : null;
      }
    });
    palette?.addItem({ command: OPEN_PANEL, category: 'Transpector' });
    palette?.addItem({ command: NEW_CANVAS_VIEW, category: 'Transpector' });
    palette?.addItem({ command: OPEN_CANVAS, category: 'Transpector' });
    app.docRegistry.addWidgetExtension('Notebook', new CanvasButton(app));
  }
};

/** The notebook toolbar button that opens the canvas of that notebook's kernel. */
class CanvasButton implements DocumentRegistry.IWidgetExtension<NotebookPanel, INotebookModel> {
  constructor(private readonly _app: JupyterFrontEnd) {}

  createNew(panel: NotebookPanel): IDisposable {
    const button = new ToolbarButton({
      className: 'jp-Transpector-toolbarButton',
      icon: transpectorIcon,
      tooltip: 'Open the Transpector canvas of this kernel',
      onClick: () => void this._app.commands.execute(OPEN_CANVAS, { notebookId: panel.id })
    });
    panel.toolbar.insertItem(10, 'transpector', button);
    return new DisposableDelegate(() => button.dispose());
  }
}

export default plugin;
