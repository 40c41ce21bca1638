import { describe, expect, it } from 'vitest';

import { layerMarks, summarizeLayers } from '../layerSummary';
import { layoutGraph } from '../layout';
import { CanvasSnapshot, CanvasStore, headDla, initialSnapshot, largestHeadDla, replacedNodes } from '../store';
import { FakeTransport, summary } from '../testdata/fakes';
import * as graphs from '../testdata/graphs';
import type { Intervention } from '../../protocol.generated';
import {
  ablatedEdgesCss,
  scoredEdges,
  flowEdges,
  flowNodes,
  nodeActions,
  nodeCentre,
  nodeHandles,
  patchEdges,
  reuseUnchanged,
  sameOrNext,
  spineHandles,
  summaryFlowNodes
} from './graphElements';

const actions = nodeActions(new CanvasStore(new FakeTransport()));
const graph = graphs.gpt_ln;
const byId = new Map(graph.nodes.map(n => [n.id, n] as const));
const layout = layoutGraph(graph);

function snapshot(extra: Partial<CanvasSnapshot> = {}): CanvasSnapshot {
  const state = { prompts: ['Hi'], active: 0, interventions: [], notes: {}, reference_prompts: [] };
  return { ...initialSnapshot(), connection: { kind: 'live' }, version: 1, state, graph, ...extra };
}

describe('graph elements', () => {
  it('declares every node size and handle, so none is drawn just to be measured', () => {
    const nodes = flowNodes(layout, graph, snapshot(), actions, byId);
    expect(nodes).toHaveLength(layout.nodes.length + layout.frames.length);
    for (const node of nodes) {
      expect(node.measured?.width).toBeGreaterThan(0);
      expect(node.handles).toBeDefined();
    }
  });

  it('puts the drop on the whole node and the patch dot on the right edge', () => {
    const [target, source] = nodeHandles(100, 28, true);
    expect(target).toMatchObject({ type: 'target', x: 0, y: 0, width: 100, height: 28 });
    expect(source).toMatchObject({ type: 'source', x: 94, y: 8, width: 12, height: 12 });
    expect(nodeHandles(46, 26, false)[1]).toMatchObject({ x: 43, y: 10, width: 6, height: 6 });
  });

  it('keeps the object of every node whose drawing did not change', () => {
    const first = flowNodes(layout, graph, snapshot(), actions, byId);
    const previous = new Map(first.map(n => [n.id, n]));
    const ablated = snapshot({
      state: {
        prompts: ['Hi'],
        active: 0,
        interventions: [{ kind: 'ablate', method: 'zero', node: 'L0.H1', positions: null, id: 'a' }],
        notes: {},
        reference_prompts: []
      }
    });
    const second = reuseUnchanged(previous, flowNodes(layout, graph, ablated, actions, byId));
    const changed = second.filter(n => n !== previous.get(n.id)).map(n => n.id);
    expect(changed).toEqual(['L0.H1']);
  });

  it('leaves the heads\' edges out when zoomed far out, and nothing else', () => {
    const near = flowEdges(layout);
    const far = flowEdges(layout, true);
    const touchesHead = (id: string) => /\.H\d+$/.test(id);
    expect(near.length).toBe(layout.edges.length);
    expect(far.length).toBe(near.filter(e => !touchesHead(e.source) && !touchesHead(e.target)).length);
    expect(far.length).toBeLessThan(near.length);
  });

  it('draws one edge per patch and styles ablated nodes\' edges by CSS', () => {
    const store = actions.store;
    const interventions: Intervention[] = [
      { kind: 'patch', id: 'p', node: 'L1.H2', source: 'L0.H1', source_prompt: 'Hi', positions: null },
      { kind: 'ablate', id: 'a', node: 'L0.H3', method: 'zero', positions: null },
      { kind: 'freeze', id: 'f', node: 'L0.mlp', prompt: 'Hi', positions: [1] }
    ];
    expect(patchEdges(layout, interventions, store).map(e => [e.source, e.target])).toEqual([['L0.H1', 'L1.H2']]);
    expect(patchEdges(layoutGraph(graph, { folded: [1] }), interventions, store)).toEqual([]);
    const css = ablatedEdgesCss(interventions, ':r1:', 4);
    expect(css).toContain('[data-graph=":r1:"] .react-flow__edge[data-id^="L0.H3->"] path');
    expect(css).toContain('.react-flow__edge[data-id^="L0.mlp->"] path');
    expect(css).not.toContain('L0.H1');
    expect(ablatedEdgesCss([], ':r1:', 4)).toBe('');
  });

  it('draws an isolate as the other heads of its layer zeroed, the isolated one kept', () => {
    const isolate: Intervention = { kind: 'isolate', id: 'i', node: 'L1.H2', method: 'zero', positions: null };
    const css = ablatedEdgesCss([isolate], ':r1:', 4);
    for (const other of ['L1.H0', 'L1.H1', 'L1.H3']) {
      expect(css).toContain(`[data-id^="${other}->"]`);
    }
    expect(css).not.toContain('L1.H2');
    const state = { prompts: ['Hi'], active: 0, interventions: [isolate], notes: {}, reference_prompts: [] };
    const nodes = flowNodes(layout, graph, snapshot({ state }), actions, byId);
    const marks = (id: string) => (nodes.find(n => n.id === id)?.data as { marks: string }).marks;
    expect(marks('L1.H2')).toBe('isolate');
    expect(marks('L1.H0')).toBe('ablate');
    expect(marks('L0.H0')).toBe('');
  });

  it('changes no node when only the run changes (the DLA badges read the store)', () => {
    const first = flowNodes(layout, graph, snapshot(), actions, byId);
    const again = reuseUnchanged(new Map(first.map(n => [n.id, n])), flowNodes(layout, graph, snapshot({ run: summary(3) }), actions, byId));
    expect(sameOrNext(first, again)).toBe(first);
    expect(sameOrNext(first, again.slice(1))).not.toBe(first);
  });

  it('reads a head\'s DLA and the run\'s largest from the run', () => {
    const run = summary(1); // head_dla [[0.1, 0.2, 0.3, 0.4], [0, 0, 0, 0]]
    expect(headDla(run, 0, 2)).toBe(0.3);
    expect(headDla(run, 5, 0)).toBeNull();
    expect(headDla(null, 0, 0)).toBeNull();
    expect(largestHeadDla(run)).toBe(0.4);
  });

  it('draws each layer far out as one box over its frame, marked, joined on the residual row', () => {
    const summary = summarizeLayers(layout);
    const interventions: Intervention[] = [
      { kind: 'ablate', id: 'a', node: 'L1.H0', method: 'zero', positions: null },
      { kind: 'ablate', id: 'b', node: 'L1.H2', method: 'zero', positions: null }
    ];
    const marks = layerMarks(interventions, i => replacedNodes(i, graph.n_heads));
    const open = (): void => undefined;
    const outside = flowNodes({ ...layout, nodes: summary.nodes, frames: [] }, graph, snapshot(), actions, byId, true);
    const nodes = summaryFlowNodes(summary, marks, open, outside);
    expect(nodes.map(n => n.id)).toEqual(['L0.summary', 'L1.summary', ...summary.nodes.map(n => n.id)]);
    const [first, second] = nodes;
    const frame = layout.frames[1];
    expect(second).toMatchObject({ type: 'summary', position: { x: frame.x, y: frame.y }, width: frame.width, height: frame.height });
    expect(second.data).toMatchObject({ layer: 1, replaced: 2, patched: 0, kinds: 'ablate', spine: -frame.y });
    expect(first.data).toMatchObject({ replaced: 0, kinds: '' });
    // Both handles sit on the residual row (graph y = 0), at the box's left and right edges.
    const [target, source] = second.handles ?? [];
    expect(frame.y + target.y + (target.height ?? 0) / 2).toBe(0);
    expect(frame.y + source.y + (source.height ?? 0) / 2).toBe(0);
    expect(source.x + (source.width ?? 0)).toBe(frame.width);
    expect(spineHandles(100, 50, 80)[0].y + 1).toBe(50); // kept inside the box
    // Edges only between what the far view draws.
    const drawn = new Set(nodes.map(n => n.id));
    expect(flowEdges(summary).every(e => drawn.has(e.source) && drawn.has(e.target))).toBe(true);
  });

  it('finds the centre of a drawn node, and nothing for one that is not drawn', () => {
    const head = layout.nodes.find(n => n.id === 'L1.H2');
    expect(nodeCentre(layout, 'L1.H2')).toEqual({ x: (head?.x ?? 0) + 50, y: (head?.y ?? 0) + 14 });
    expect(nodeCentre(layoutGraph(graph, { folded: [1] }), 'L1.H2')).toBeNull();
  });

  it('draws composition edges above the threshold between drawn heads, as wide as their score', () => {
    const pairs = [
      { from_node: 'L0.H1', to_node: 'L1.H2', score: 0.4 },
      { from_node: 'L0.H0', to_node: 'L1.H3', score: 0.2 },
      { from_node: 'L0.H2', to_node: 'L9.H0', score: 0.5 } // not drawn: no such node
    ];
    const edges = scoredEdges(layout, pairs, 0.3, 'composition');
    expect(edges.map(e => [e.source, e.target])).toEqual([['L0.H1', 'L1.H2']]);
    expect(edges[0].style?.strokeWidth).toBeCloseTo(1 + 4 * (0.4 / 0.5));
    expect(scoredEdges(layout, pairs, 0.1, 'composition')).toHaveLength(2);
  });

  it('draws circuit edges by |score|, negative ones marked, into the logits too', () => {
    const scored = [
      { from_node: 'L1.H2', to_node: 'unembed', score: -2 },
      { from_node: 'embed', to_node: 'L1.H0', score: 1 },
      { from_node: 'L0.H0', to_node: 'L1.H1', score: 0.1 }
    ];
    const edges = scoredEdges(layout, scored, 0.5, 'circuit');
    expect(edges.map(e => [e.source, e.target, e.className])).toEqual([
      ['L1.H2', 'unembed', 'jp-Transpector-circuit-edge jp-Transpector-negative-edge'],
      ['embed', 'L1.H0', 'jp-Transpector-circuit-edge']
    ]);
    expect(edges[1].style?.strokeWidth).toBeCloseTo(3);
  });
});
