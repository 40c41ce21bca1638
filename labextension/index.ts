/**
 * Entry point: wires the Transpector side panel and its palette command into JupyterLab.
 */
import { ILabShell, JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { ICommandPalette } from '@jupyterlab/apputils';

import { transpectorIcon } from './icon';
import { TranspectorPanel } from './panel';
import { PanelModel } from './panelModel';

const OPEN_PANEL = 'transpector:open-panel';

const plugin: JupyterFrontEndPlugin<void> = {
  id: 'transpector:plugin',
  description: 'A live graph of a TransformerLens model beside the notebook.',
  autoStart: true,
  requires: [ILabShell],
  optional: [ICommandPalette],
  activate: (app: JupyterFrontEnd, shell: ILabShell, palette: ICommandPalette | null) => {
    const model = new PanelModel();
    const panel = new TranspectorPanel(model);
    panel.title.icon = transpectorIcon;
    shell.add(panel, 'left', { rank: 600 });
    app.serviceManager.kernels.runningChanged.connect(() => void model.refresh());
    void model.refresh();

    app.commands.addCommand(OPEN_PANEL, {
      label: 'Transpector: Open Panel',
      caption: 'Show the Transpector side panel',
      icon: transpectorIcon,
      execute: () => {
        shell.activateById(panel.id);
        return model.refresh();
      }
    });
    palette?.addItem({ command: OPEN_PANEL, category: 'Transpector' });
  }
};

export default plugin;
