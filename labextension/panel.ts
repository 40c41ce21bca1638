/**
 * The "Transpector" side panel: renders a PanelModel; holds no state of its own. A kernel row
 * opens that kernel's canvas.
 */
import { Widget } from '@lumino/widgets';

import { KernelRow, PanelModel, PanelState } from './panelModel';
import { modelLabel } from './panelRows';

export class TranspectorPanel extends Widget {
  constructor(
    readonly model: PanelModel,
    private readonly _open: (kernelId: string) => void
  ) {
    super();
    this.id = 'transpector-panel';
    this.addClass('jp-TranspectorPanel');
    this.title.caption = 'Transpector';
    model.changed.connect((_, state) => this._render(state));
    this._render(model.state);
  }

  private _render(state: PanelState): void {
    const root = this.node;
    root.replaceChildren();
    const heading = document.createElement('h2');
    heading.textContent = 'Transpector';
    root.appendChild(heading);
    if (state.kind === 'loading') {
      root.appendChild(note('Loading…', 'jp-TranspectorPanel-empty'));
      return;
    }
    if (state.kind === 'error') {
      root.appendChild(note(`Cannot reach the server extension: ${state.message}`, 'jp-TranspectorPanel-error'));
      return;
    }
    root.appendChild(note(`Version ${state.version}`, 'jp-TranspectorPanel-version'));
    const title = document.createElement('h2');
    title.textContent = 'Running kernels';
    root.appendChild(title);
    if (state.kernels.length === 0) {
      root.appendChild(note('No kernel is running. Open a notebook to start one.', 'jp-TranspectorPanel-empty'));
      return;
    }
    const list = document.createElement('ul');
    list.className = 'jp-TranspectorPanel-kernels';
    for (const kernel of state.kernels) {
      list.appendChild(this._row(kernel));
    }
    root.appendChild(list);
    root.appendChild(
      note('Click a kernel to open its canvas. A kernel gets a session with transpector.attach(model).', 'jp-TranspectorPanel-hint')
    );
  }

  private _row(kernel: KernelRow): HTMLElement {
    const item = document.createElement('li');
    item.className = 'jp-TranspectorPanel-kernel';
    item.dataset.kernelId = kernel.id;
    item.dataset.attached = String(kernel.attached);
    item.dataset.state = kernel.execution_state;
    const button = document.createElement('button');
    button.className = 'jp-TranspectorPanel-open';
    button.title = `Open the Transpector canvas of kernel ${kernel.id} (${kernel.name})`;
    const session =
      kernel.attached === null ? '' : kernel.attached ? 'session' : 'no session';
    button.append(note(kernel.notebook ?? `kernel ${kernel.id.slice(0, 8)}`, 'jp-TranspectorPanel-name'));
    if (session) {
      const badge = note(session, 'jp-TranspectorPanel-badge');
      badge.dataset.attached = String(kernel.attached);
      button.appendChild(badge);
    }
    const details = document.createElement('span');
    details.className = 'jp-TranspectorPanel-details';
    if (kernel.model) {
      const model = note(modelLabel(kernel.model), 'jp-TranspectorPanel-model');
      model.title = `Model: ${kernel.model}`;
      details.append(model, ' · ');
    }
    details.append(note(kernel.name, 'jp-TranspectorPanel-spec'), ' · ', note(kernel.execution_state, 'jp-TranspectorPanel-state'));
    button.appendChild(details);
    button.addEventListener('click', () => this._open(kernel.id));
    item.appendChild(button);
    return item;
  }
}

function note(text: string, className: string): HTMLElement {
  const element = document.createElement('span');
  element.className = className;
  element.textContent = text;
  return element;
}
