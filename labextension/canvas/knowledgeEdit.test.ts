import { describe, expect, it } from 'vitest';

import type { EditFact } from '../protocol.generated';
import { editedMlp, sameEdit } from './knowledgeEdit';

describe('knowledge edit card', () => {
  it('edits the selected MLP, or one about a seventh of the way up', () => {
    expect(editedMlp('L7.mlp', 30)).toBe('L7.mlp');
    expect(editedMlp('L2.mlp.N41', 30)).toBe('L2.mlp');
    expect(editedMlp('L3.ln2', 30)).toBe('L3.mlp');
    expect(editedMlp('L3.H1', 30)).toBe('L4.mlp');
    expect(editedMlp(null, 30)).toBe('L4.mlp');
    expect(editedMlp(undefined, 2)).toBe('L0.mlp');
    expect(editedMlp('L12.mlpx', 12)).toBe('L1.mlp');
  });

  it('knows the edit a report describes among the interventions', () => {
    const spec: EditFact = { kind: 'edit', id: '', node: 'L4.mlp', positions: null, prompt: 'The Eiffel Tower is in', subject: 'The Eiffel Tower', target: ' Rome' };
    expect(sameEdit({ ...spec, id: 'a1' }, spec)).toBe(true);
    expect(sameEdit({ ...spec, target: ' Paris' }, spec)).toBe(false);
    expect(sameEdit({ ...spec, node: 'L5.mlp' }, spec)).toBe(false);
    expect(sameEdit({ kind: 'ablate', node: 'L4.mlp', positions: null }, spec)).toBe(false);
  });
});
