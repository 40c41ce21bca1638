import { describe, expect, it } from 'vitest';

import type { GraphNode, GraphSpec } from '../protocol.generated';
import { NoteTarget, describeTarget, firstLine, noteSelection, orderNotes, parseNoteTarget } from './notes';

function head(layer: number, h: number, kv: number | null = null): GraphNode {
  return { id: `L${layer}.H${h}`, kind: 'head', label: `H${h}`, layer, head: h, kv_head: kv, hooks: {}, shape: [], targetable: true };
}

function node(id: string, kind: GraphNode['kind'], layer: number | null = null): GraphNode {
  return { id, kind, label: id, layer, hooks: {}, shape: [], targetable: true };
}

/** Two layers, four query heads reading two key/value heads. */
const GRAPH = {
  n_heads: 4,
  n_kv_heads: 2,
  nodes: [
    node('embed', 'embed'),
    ...[0, 1].flatMap(l => [node(`L${l}.resid_pre`, 'resid_pre', l), ...[0, 1, 2, 3].map(h => head(l, h, h >> 1)), node(`L${l}.mlp`, 'mlp', l)]),
    node('unembed', 'unembed')
  ]
} as unknown as GraphSpec;

/** A target that parses (a test fails at once when it does not). */
function parsed(text: string): NoteTarget {
  const target = parseNoteTarget(text);
  if (target === null) {
    throw new Error(`${text} does not parse`);
  }
  return target;
}

describe('parseNoteTarget', () => {
  it('reads every form', () => {
    expect(parseNoteTarget('L3.H2')).toEqual({ kind: 'node', text: 'L3.H2', node: 'L3.H2' });
    expect(parsed('pos:-1')).toMatchObject({ kind: 'pos', position: -1 });
    expect(parsed('lens:L20.resid_pre@-1')).toMatchObject({ kind: 'lens', row: 'L20.resid_pre', layer: 20, position: -1 });
    expect(parsed('sweep:head_out:L23.H3')).toEqual({ kind: 'sweep', text: 'sweep:head_out:L23.H3', sweep: 'head_out', layer: 23, head: 3 });
    expect(parsed('sweep:resid_pre:L3@5')).toMatchObject({ kind: 'sweep', sweep: 'resid_pre', layer: 3, position: 5 });
    expect(parsed('sweep:head_out_by_pos:L1.H2@0')).toMatchObject({ layer: 1, head: 2, position: 0 });
  });

  it('knows no near miss', () => {
    for (const text of ['pos:5\n', 'pos:05', 'pos:-0', 'pos:\u0665', 'lens:L1.resid_mid@0', 'lens:L1.resid_pre', 'sweep:head_out', 'sweep:x:L1.H\u0663']) {
      expect(parseNoteTarget(text)).toBeNull();
    }
  });
});

describe('noteSelection', () => {
  it('selects a node, a position (the last one as null), a lens cell', () => {
    expect(noteSelection(parsed('L1.H2'), GRAPH, 6)).toEqual({ node: 'L1.H2' });
    expect(noteSelection(parsed('L1.mlp.N40'), GRAPH, 6)).toEqual({ node: 'L1.mlp' });
    expect(noteSelection(parsed('pos:1'), GRAPH, 6)).toEqual({ position: 1 });
    expect(noteSelection(parsed('pos:-2'), GRAPH, 6)).toEqual({ position: 4 });
    expect(noteSelection(parsed('pos:5'), GRAPH, 6)).toEqual({ position: null });
    expect(noteSelection(parsed('pos:-1'), GRAPH, null)).toEqual({ position: -1 });
    expect(noteSelection(parsed('lens:L1.resid_pre@-1'), GRAPH, 6)).toEqual({ lensCell: { row: 'L1.resid_pre', position: 5 } });
    expect(noteSelection(parsed('lens:L1.resid_post@2'), GRAPH, 6)).toEqual({ lensCell: { row: 'L1.resid_post', position: 2 } });
  });

  it('selects the node a sweep cell patches, and its position', () => {
    expect(noteSelection(parsed('sweep:head_out:L1.H3'), GRAPH, 6)).toEqual({ node: 'L1.H3' });
    expect(noteSelection(parsed('sweep:resid_pre:L1@2'), GRAPH, 6)).toEqual({ node: 'L1.resid_pre', position: 2 });
    expect(noteSelection(parsed('sweep:attn_out:L0@0'), GRAPH, 6)).toEqual({ node: 'L0.attn', position: 0 });
    expect(noteSelection(parsed('sweep:mlp_out:L0@-1'), GRAPH, 6)).toEqual({ node: 'L0.mlp', position: null });
    expect(noteSelection(parsed('sweep:head_out_by_pos:L0.H1@3'), GRAPH, 6)).toEqual({ node: 'L0.H1', position: 3 });
    // Grouped-query attention: a k or v cell is a key/value head; its first reader is selected.
    expect(noteSelection(parsed('sweep:k:L1.H1'), GRAPH, 6)).toEqual({ node: 'L1.H2' });
    expect(noteSelection(parsed('sweep:q:L1.H1'), GRAPH, 6)).toEqual({ node: 'L1.H1' });
  });
});

describe('orderNotes', () => {
  it('lists nodes in graph order, then positions, lens cells, sweep cells, unknown forms', () => {
    const notes = {
      'sweep:resid_pre:L1@2': 'a',
      'pos:-1': 'b',
      unembed: 'c',
      'lens:L1.resid_post@0': 'd',
      'pos:3': 'e',
      'L0.mlp.N7': 'f',
      'lens:L0.resid_pre@-1': 'g',
      'sweep:head_out:L0.H3': 'h',
      'L0.H2': 'i',
      'pos:wat': 'j',
      'L0.mlp.N12': 'k',
      'lens:L1.resid_pre@4': 'l',
      embed: 'm',
      'L0.mlp': 'n'
    };
    expect(orderNotes(notes, GRAPH).map(n => n.target)).toEqual([
      'embed',
      'L0.H2',
      'L0.mlp',
      'L0.mlp.N7',
      'L0.mlp.N12',
      'unembed',
      'pos:3',
      'pos:-1',
      'lens:L0.resid_pre@-1',
      'lens:L1.resid_pre@4',
      'lens:L1.resid_post@0',
      'sweep:head_out:L0.H3',
      'sweep:resid_pre:L1@2',
      'pos:wat'
    ]);
    expect(orderNotes(notes, GRAPH).find(n => n.target === 'pos:wat')).toEqual({ target: 'pos:wat', parsed: null, text: 'j' });
  });

  it('works without a graph', () => {
    expect(orderNotes({ 'L1.H0': 'x', 'L0.H3': 'y', 'pos:0': 'z' }, null).map(n => n.target)).toEqual(['L0.H3', 'L1.H0', 'pos:0']);
  });
});

describe('firstLine and describeTarget', () => {
  it('read a note and name its target', () => {
    expect(firstLine('\n  **copy** head  \n- more')).toBe('**copy** head');
    expect(firstLine('')).toBe('');
    expect(describeTarget(parsed('pos:5'))).toBe('position 5');
    expect(describeTarget(parsed('lens:L2.resid_pre@-1'))).toBe('lens L2.resid_pre @ -1');
    expect(describeTarget(parsed('sweep:head_out_by_pos:L1.H2@3'))).toBe('head_out_by_pos sweep L1.H2 @ 3');
    expect(describeTarget(parsed('L0.mlp.N5'))).toBe('L0.mlp.N5');
  });
});
