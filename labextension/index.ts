/**
 * Entry point: wires the Transpector side panel, the canvas command, its notebook toolbar
 * button and palette items into JupyterLab. Behaviour lives in the modules it imports.
 */
import { ILabShell, JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { Dialog, ICommandPalette, ToolbarButton, showDialog } from '@jupyterlab/apputils';
import { DocumentRegistry } from '@jupyterlab/docregistry';
import { INotebookModel, INotebookTracker, NotebookPanel } from '@jupyterlab/notebook';
import { IRenderMimeRegistry } from '@jupyterlab/rendermime';
import { DisposableDelegate, IDisposable } from '@lumino/disposable';
import { Widget } from '@lumino/widgets';

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
  optional: [ILabShell, ICommandPalette, INotebookTracker, IRenderMimeRegistry],
  activate: (
    app: JupyterFrontEnd,
    shell: ILabShell | null,
    palette: ICommandPalette | null,
    notebooks: INotebookTracker | null,
    rendermime: IRenderMimeRegistry | null
  ) => {
    if (!shell) {
      // Another front end on JupyterLab's parts (Notebook 7): no split panels for the canvas.
      app.docRegistry.addWidgetExtension('Notebook', new CanvasButton(() => void explainNeedsLab()));
      return;
    }
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
    app.docRegistry.addWidgetExtension('Notebook', new CanvasButton(panel => void app.commands.execute(OPEN_CANVAS, { notebookId: panel.id })));
  }
};

/** Where there is no JupyterLab shell: say so, and what works instead. */
async function explainNeedsLab(): Promise<void> {
  const body = document.createElement('div');
  body.className = 'jp-Transpector-needs-lab';
  body.innerHTML =
    '<p>The Transpector canvas opens beside the notebook in <strong>JupyterLab</strong>; this front end has no panels for it.</p>' +
    '<p>Here, a cell shows the same live views: <code>session.widget()</code> (a compact canvas) or ' +
    '<code>session.show("lens")</code>, <code>"attention"</code>, <code>"sweep"</code>, <code>"neuron"</code>.</p>' +
    '<p>Or open this notebook in JupyterLab (the toolbar’s <em>JupyterLab</em> button, also under <em>View → Open in…</em>).</p>';
  await showDialog({ title: 'Transpector needs JupyterLab for its canvas', body: new Widget({ node: body }), buttons: [Dialog.okButton()] });
}

/** The notebook toolbar button that opens the canvas of that notebook's kernel. */
class CanvasButton implements DocumentRegistry.IWidgetExtension<NotebookPanel, INotebookModel> {
  constructor(private readonly _onClick: (panel: NotebookPanel) => void) {}

  createNew(panel: NotebookPanel): IDisposable {
    const button = new ToolbarButton({
      className: 'jp-Transpector-toolbarButton',
      icon: transpectorIcon,
      tooltip: 'Open the Transpector canvas of this kernel',
      onClick: () => this._onClick(panel)
    });
    panel.toolbar.insertItem(10, 'transpector', button);
    return new DisposableDelegate(() => button.dispose());
  }
}

export default plugin;
