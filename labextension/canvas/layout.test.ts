import { describe, expect, it } from 'vitest';

import type { GraphSpec } from '../protocol.generated';
import { syntheticGraph } from './fixtures';
import { GraphLayout, LaidNode, SIZE, foldedId, layoutGraph } from './layout';
import * as graphs from './testdata/graphs';

function byId(layout: GraphLayout): Map<string, LaidNode> {
  return new Map(layout.nodes.map(n => [n.id, n]));
}
function at(nodes: Map<string, LaidNode>, id: string): LaidNode {
  const node = nodes.get(id);
  if (!node) {
    throw new Error(`no node ${id}`);
  }
  return node;
}
const centreY = (n: LaidNode): number => n.y + n.height / 2;
const right = (n: LaidNode): number => n.x + n.width;

function overlaps(a: LaidNode, b: LaidNode): boolean {
  return a.x < right(b) && b.x < right(a) && a.y < b.y + b.height && b.y < a.y + a.height;
}

describe('layoutGraph', () => {
  const cases: [string, GraphSpec][] = Object.entries(graphs);

  it.each(cases)('%s: places every node once, none overlapping', (_, spec) => {
    const layout = layoutGraph(spec);
    expect(layout.nodes.map(n => n.id).sort()).toEqual(spec.nodes.map(n => n.id).sort());
    for (const [i, a] of layout.nodes.entries()) {
      for (const b of layout.nodes.slice(i + 1)) {
        expect(overlaps(a, b), `${a.id} overlaps ${b.id}`).toBe(false);
      }
    }
  });

  it.each(cases)('%s: every edge of the spec is drawn, left to right', (_, spec) => {
    const layout = layoutGraph(spec);
    const nodes = byId(layout);
    expect(layout.edges.map(e => `${e.source}->${e.target}`).sort()).toEqual(
      spec.edges.map(e => `${e.source}->${e.target}`).sort()
    );
    for (const edge of layout.edges) {
      const [s, t] = [at(nodes, edge.source), at(nodes, edge.target)];
      // Same column only for the two branches of a parallel block; never backwards.
      expect(t.x, `${edge.id}`).toBeGreaterThanOrEqual(right(s));
    }
  });

  it('follows the computation: embed, then each layer in order, then the outputs', () => {
    const nodes = byId(layoutGraph(graphs.gpt_ln));
    const order = [
      'prompt', 'tokens', 'embed', 'L0.resid_pre', 'L0.ln1', 'L0.H0', 'L0.attn', 'L0.resid_mid',
      'L0.ln2', 'L0.mlp', 'L0.resid_post', 'L1.resid_pre', 'L1.H3', 'L1.resid_post', 'ln_final',
      'unembed', 'outputs'
    ];
    const xs = order.map(id => at(nodes, id).x);
    expect(xs).toEqual([...xs].sort((a, b) => a - b));
    expect(new Set(xs).size).toBe(xs.length);
    expect(at(nodes, 'pos_embed').x).toBe(at(nodes, 'embed').x);
  });

  it('stacks the heads of a layer in one column, in head order', () => {
    const nodes = byId(layoutGraph(graphs.tiny_llama));
    const heads = [0, 1, 2, 3].map(h => at(nodes, `L1.H${h}`));
    expect(new Set(heads.map(h => h.x)).size).toBe(1);
    for (let h = 1; h < 4; h++) {
      expect(heads[h].y).toBe(heads[h - 1].y + SIZE.head.height + SIZE.headGap);
    }
    // The residual stream runs below the attention branch.
    expect(at(nodes, 'L1.resid_pre').y).toBeGreaterThan(heads[3].y + heads[3].height);
  });

  it('draws a parallel block as it computes: MLP beside the heads, both before resid_post', () => {
    const nodes = byId(layoutGraph(graphs.parallel));
    const [head, mlp, ln1, ln2] = ['L0.H0', 'L0.mlp', 'L0.ln1', 'L0.ln2'].map(id => at(nodes, id));
    const centreX = (n: LaidNode): number => n.x + n.width / 2;
    expect(centreX(mlp)).toBe(centreX(head));
    expect(centreX(ln2)).toBe(centreX(ln1));
    expect(centreY(mlp)).toBeGreaterThan(centreY(at(nodes, 'L0.resid_pre')));
    expect(centreY(head)).toBeLessThan(centreY(at(nodes, 'L0.resid_pre')));
    expect(at(nodes, 'L0.resid_post').x).toBeGreaterThan(at(nodes, 'L0.attn').x);
  });

  it('draws a sequential block with the MLP after resid_mid', () => {
    const nodes = byId(layoutGraph(graphs.gpt_ln));
    expect(at(nodes, 'L0.mlp').x).toBeGreaterThan(at(nodes, 'L0.resid_mid').x);
    expect(centreY(at(nodes, 'L0.mlp'))).toBe(centreY(at(nodes, 'L0.attn')));
  });

  it('gives each layer a frame around its nodes', () => {
    const layout = layoutGraph(graphs.gpt_ln);
    expect(layout.frames.map(f => f.layer)).toEqual([0, 1]);
    for (const node of layout.nodes.filter(n => n.layer !== null)) {
      const frame = layout.frames[node.layer ?? -1];
      expect(node.x).toBeGreaterThanOrEqual(frame.x);
      expect(right(node)).toBeLessThanOrEqual(frame.x + frame.width);
      expect(node.y).toBeGreaterThanOrEqual(frame.y);
      expect(node.y + node.height).toBeLessThanOrEqual(frame.y + frame.height);
    }
    expect(layout.frames[0].x + layout.frames[0].width).toBeLessThan(layout.frames[1].x);
  });

  it('folds a layer into one node and rewires its edges', () => {
    const layout = layoutGraph(graphs.gpt_ln, { folded: [0] });
    const ids = layout.nodes.map(n => n.id);
    expect(ids).toContain(foldedId(0));
    expect(ids.filter(id => id.startsWith('L0.'))).toEqual([foldedId(0)]);
    const edges = layout.edges.map(e => e.id);
    expect(edges).toContain('embed->L0.folded');
    expect(edges).toContain('pos_embed->L0.folded');
    expect(edges).toContain('L0.folded->L1.resid_pre');
    expect(edges.some(e => e.startsWith('L0.folded->L0'))).toBe(false);
    expect(layout.frames[0].folded).toBe(true);
    expect(layout.width).toBeLessThan(layoutGraph(graphs.gpt_ln).width);
  });

  it('bridges hidden kinds: without norms, the stream feeds the heads directly', () => {
    const layout = layoutGraph(graphs.tiny_llama, { hiddenKinds: ['ln1', 'ln2', 'ln_final'] });
    const ids = new Set(layout.nodes.map(n => n.id));
    expect(ids.has('L0.ln1')).toBe(false);
    const edges = layout.edges.map(e => e.id);
    expect(edges).toContain('L0.resid_pre->L0.H2');
    expect(edges).toContain('L0.resid_mid->L0.mlp');
    expect(edges).toContain('L1.resid_post->unembed');
    expect(edges.every(e => !e.includes('ln'))).toBe(true);
  });

  it('bridges hidden heads from ln1 to the attention node', () => {
    const layout = layoutGraph(graphs.gpt_ln, { hiddenKinds: ['head'] });
    expect(layout.edges.map(e => e.id)).toContain('L1.ln1->L1.attn');
    expect(layout.nodes.some(n => n.kind === 'head')).toBe(false);
  });

  it('matches the synthetic graph builder used by benchmarks', () => {
    const synthetic = syntheticGraph({ layers: 2, heads: 4 });
    const real = graphs.gpt_ln;
    expect(synthetic.nodes.map(n => n.id)).toEqual(real.nodes.map(n => n.id));
    const edge = (e: { source: string; target: string; kind: string }): string =>
      `${e.source}->${e.target}:${e.kind}`;
    expect(synthetic.edges.map(edge).sort()).toEqual(real.edges.map(edge).sort());
    const parallel = syntheticGraph({ layers: 2, heads: 4, parallel: true, positional: 'rotary' });
    expect(parallel.edges.map(edge).sort()).toEqual(graphs.parallel.edges.map(edge).sort());
  });

  it('lays out 32 layers x 32 heads quickly', () => {
    const spec = syntheticGraph({ layers: 32, heads: 32 });
    const start = performance.now();
    const layout = layoutGraph(spec);
    expect(performance.now() - start).toBeLessThan(200);
    expect(layout.nodes.length).toBe(spec.nodes.length);
  });
});
