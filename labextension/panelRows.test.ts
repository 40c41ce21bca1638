import { describe, expect, it } from 'vitest';

import { kernelRows, modelLabel, notebookName } from './panelRows';

const info = {
  version: '0.1.0',
  kernels: [
    { id: '48ef8c6b-1111', name: 'python3', execution_state: 'idle' },
    { id: '9a9a9a9a-2222', name: 'python3', execution_state: 'busy' }
  ]
};
const sessions = [
  { kernel_id: '48ef8c6b-1111', name: 'python3', execution_state: 'idle', attached: true, protocol_version: 1, model_name: 'SmolLM2-135M-Instruct' },
  { kernel_id: '9a9a9a9a-2222', name: 'python3', execution_state: 'busy', attached: false, protocol_version: null, model_name: null }
];

describe('panel rows', () => {
  it("name each kernel's notebook (from JupyterLab's sessions) and its model (from the listing)", () => {
    const uses = [
      { kernelId: '48ef8c6b-1111', path: 'work/analysis.ipynb' },
      { kernelId: '9a9a9a9a-2222', path: 'other.ipynb' }
    ];
    const rows = kernelRows(info, sessions, uses);
    expect(rows.map(r => [r.notebook, r.model, r.attached, r.execution_state])).toEqual([
      ['analysis.ipynb', 'SmolLM2-135M-Instruct', true, 'idle'],
      ['other.ipynb', null, false, 'busy']
    ]);
  });

  it('fall back to the kernel when no notebook uses it, and join the notebooks that share one', () => {
    const uses = [
      { kernelId: '48ef8c6b-1111', path: 'a.ipynb' },
      { kernelId: '48ef8c6b-1111', path: 'sub/b.ipynb' }
    ];
    const rows = kernelRows(info, null, uses);
    expect(rows.map(r => [r.notebook, r.model, r.attached])).toEqual([
      ['a.ipynb, b.ipynb', null, null],
      [null, null, null]
    ]);
  });

  it('shows a file name from a path', () => {
    expect(notebookName('dir/sub/x.ipynb')).toBe('x.ipynb');
    expect(notebookName('x.ipynb')).toBe('x.ipynb');
  });

  it("shortens a model loaded from a folder to the folder's name, and keeps hub names whole", () => {
    expect(modelLabel('/tmp/models/tiny-llama/')).toBe('tiny-llama');
    expect(modelLabel('./checkpoints/run-3')).toBe('run-3');
    expect(modelLabel('~/m')).toBe('m');
    expect(modelLabel('HuggingFaceTB/SmolLM2-135M')).toBe('HuggingFaceTB/SmolLM2-135M');
    expect(modelLabel('SmolLM2-135M-Instruct')).toBe('SmolLM2-135M-Instruct');
  });
});
