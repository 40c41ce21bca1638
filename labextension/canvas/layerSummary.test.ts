import { describe, expect, it } from 'vitest';

import type { Intervention } from '../protocol.generated';
import { syntheticGraph } from './fixtures';
import { layoutGraph } from './layout';
import { FAR_ZOOM, detailAt, layerMarks, mostNodesAcross, summarizeLayers, summaryId, summaryZoom } from './layerSummary';
import { replacedNodes } from './model';
import * as graphs from './testdata/graphs';

describe('summarizeLayers', () => {
  it('draws each layer as one box where its frame is, and keeps the nodes outside layers', () => {
    const layout = layoutGraph(graphs.gpt_ln);
    const summary = summarizeLayers(layout);
    expect(summary.layers).toEqual(layout.frames);
    expect(summary.nodes.map(n => n.id)).toEqual(['prompt', 'tokens', 'embed', 'pos_embed', 'ln_final', 'unembed', 'outputs']);
  });

  it('joins the boxes along the residual stream, with no edge inside a layer', () => {
    const summary = summarizeLayers(layoutGraph(graphs.gpt_ln));
    const edges = summary.edges.map(e => e.id).sort();
    expect(edges).toEqual(
      ['prompt->tokens', 'tokens->embed', 'tokens->pos_embed', 'embed->L0.summary', 'pos_embed->L0.summary',
        'L0.summary->L1.summary', 'L1.summary->ln_final', 'ln_final->unembed', 'unembed->outputs'].sort()
    );
    expect(new Set(edges).size).toBe(edges.length);
  });

  it('stands for a folded layer too', () => {
    const summary = summarizeLayers(layoutGraph(graphs.gpt_ln, { folded: [0] }));
    expect(summary.edges.map(e => e.id)).toContain(`${summaryId(0)}->${summaryId(1)}`);
    expect(summary.nodes.some(n => n.layer !== null)).toBe(false);
  });
});

describe('summaryZoom', () => {
  const big = layoutGraph(syntheticGraph({ layers: 32, heads: 32 }));
  const everything = [...big.nodes, ...big.frames];

  it('counts the nodes a window meets, touching included', () => {
    const spans = [
      { x: 0, width: 10 },
      { x: 20, width: 10 },
      { x: 40, width: 10 }
    ];
    expect(mostNodesAcross(spans, 0)).toBe(1);
    expect(mostNodesAcross(spans, 10)).toBe(2);
    expect(mostNodesAcross(spans, 30)).toBe(3);
  });

  it('keeps every view of a 32 x 32 model within the budget at or above it', () => {
    const pane = 900;
    const zoom = summaryZoom(big, pane, 300);
    expect(zoom).toBeGreaterThan(0);
    expect(mostNodesAcross(everything, pane / zoom)).toBeLessThanOrEqual(300);
    // A little further out, some view would hold more: the threshold is as low as it can be.
    expect(mostNodesAcross(everything, pane / (zoom * 0.97))).toBeGreaterThan(300);
    // The whole model is far over the budget: fit view shows summary boxes.
    expect(pane / big.width).toBeLessThan(zoom);
  });

  it('summarises a wider pane sooner, and never a graph within the budget', () => {
    expect(summaryZoom(big, 1800, 300)).toBeCloseTo(2 * summaryZoom(big, 900, 300), 1);
    expect(summaryZoom(layoutGraph(graphs.gpt_ln), 900, 300)).toBe(0);
  });
});

describe('detailAt', () => {
  it('draws summaries below the summary zoom, plain boxes below FAR_ZOOM, else everything', () => {
    expect(detailAt(0.05, 0.1)).toBe('summary');
    expect(detailAt(0.1, 0.1)).toBe('far');
    expect(detailAt(FAR_ZOOM, 0.1)).toBe('near');
    expect(detailAt(0.05, 0)).toBe('far');
  });
});

describe('layerMarks', () => {
  const replaced = (i: Intervention): string[] => replacedNodes(i, 4);

  it('counts the nodes replaced in each layer and the patches into it', () => {
    const interventions: Intervention[] = [
      { kind: 'ablate', id: 'a', node: 'L1.H0', method: 'zero', positions: null },
      { kind: 'ablate', id: 'b', node: 'L1.H2', method: 'mean', positions: [1] },
      { kind: 'freeze', id: 'f', node: 'L1.mlp', prompt: 'Hi', positions: null },
      { kind: 'patch', id: 'p', node: 'L3.H1', source: 'L0.H1', source_prompt: 'Hi', positions: null },
      { kind: 'isolate', id: 'i', node: 'L2.H3', method: 'zero', positions: null },
      { kind: 'ablate', id: 'e', node: 'embed', method: 'zero', positions: null }
    ];
    const marks = layerMarks(interventions, replaced);
    expect([...marks.keys()].sort()).toEqual([1, 2, 3]);
    expect(marks.get(1)).toEqual({ replaced: 3, patched: 0, kinds: 'ablate freeze' });
    expect(marks.get(2)).toEqual({ replaced: 3, patched: 0, kinds: 'isolate' });
    expect(marks.get(3)).toEqual({ replaced: 0, patched: 1, kinds: 'patch' });
  });

  it('counts a node once however many interventions replace it', () => {
    const twice: Intervention[] = [
      { kind: 'ablate', id: 'a', node: 'L0.H0', method: 'zero', positions: [0] },
      { kind: 'ablate', id: 'b', node: 'L0.H0', method: 'zero', positions: [2] }
    ];
    expect(layerMarks(twice, replaced).get(0)?.replaced).toBe(1);
  });
});
