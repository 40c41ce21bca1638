/**
 * Far zoom, pure: each layer drawn as one summary box where its frame is (the view keeps its
 * place when it switches), the zoom under which the graph switches to them so that a view never
 * holds more than a budget of nodes, and what each summary box says about its layer's
 * interventions. No DOM, no React.
 */
import type { Intervention } from '../protocol.generated';
import type { GraphLayout, LaidEdge, LaidNode, LayerFrame } from './layout';

/** How much the graph draws: every node with its label and buttons, nodes as plain boxes
 * (labels would be a few pixels tall), or one summary box per layer. */
export type Detail = 'near' | 'far' | 'summary';

/** Below this zoom, labels are a few pixels tall: nodes draw as plain boxes. */
export const FAR_ZOOM = 0.35;

/** The most nodes a view may hold before the layers draw as summary boxes. */
export const NODE_BUDGET = 300;

export function detailAt(zoom: number, summaryBelow: number): Detail {
  return zoom < summaryBelow ? 'summary' : zoom < FAR_ZOOM ? 'far' : 'near';
}

/** The id of the box that stands for `layer` when the graph is zoomed far out. */
export function summaryId(layer: number): string {
  return `L${layer}.summary`;
}

/** The layers as boxes (the frames' rectangles), the nodes outside layers, and the edges
 * between them (the residual row, y = 0, runs through every box). */
export interface SummaryLayout {
  layers: LayerFrame[];
  nodes: LaidNode[];
  edges: LaidEdge[];
}

export function summarizeLayers(layout: GraphLayout): SummaryLayout {
  const layerOf = new Map(layout.nodes.map(n => [n.id, n.layer] as const));
  const stand = (id: string): string => {
    const layer = layerOf.get(id);
    return layer === null || layer === undefined ? id : summaryId(layer);
  };
  const edges = new Map<string, LaidEdge>();
  for (const e of layout.edges) {
    const [source, target] = [stand(e.source), stand(e.target)];
    const id = `${source}->${target}`;
    if (source !== target && !edges.has(id)) {
      edges.set(id, { id, source, target, kind: e.kind });
    }
  }
  return {
    layers: layout.frames,
    nodes: layout.nodes.filter(n => n.layer === null),
    edges: [...edges.values()]
  };
}

/** A node's horizontal extent, in graph pixels. */
interface Span {
  x: number;
  width: number;
}

/**
 * The most nodes (and frames) that any window `width` graph pixels wide meets, whatever their
 * height (a far view shows every row): a sweep over where each node starts and stops meeting a
 * window's left edge.
 */
export function mostNodesAcross(spans: readonly Span[], width: number): number {
  const events: [number, number][] = [];
  for (const s of spans) {
    events.push([s.x - width, 1], [s.x + s.width, -1]);
  }
  events.sort((a, b) => a[0] - b[0] || b[1] - a[1]); // touching counts as meeting
  let now = 0;
  let most = 0;
  for (const [, step] of events) {
    now += step;
    most = Math.max(most, now);
  }
  return most;
}

/**
 * The zoom under which the graph draws its layers as summary boxes: at this zoom or closer, a
 * pane `paneWidth` pixels wide meets at most `budget` of the layout's nodes and frames wherever
 * it looks (xyflow renders only those). 0 when the whole graph fits the budget.
 */
export function summaryZoom(layout: GraphLayout, paneWidth: number, budget: number): number {
  const spans: Span[] = [...layout.nodes, ...layout.frames];
  if (spans.length <= budget || paneWidth <= 0) {
    return 0;
  }
  // The widest window (graph pixels) within the budget, by bisection: 0 px meets few nodes
  // (a column at most), the whole width meets all of them.
  let fits = 0;
  let over = layout.width + 1;
  while (over - fits > 1) {
    const mid = (fits + over) / 2;
    if (mostNodesAcross(spans, mid) <= budget) {
      fits = mid;
    } else {
      over = mid;
    }
  }
  return fits > 0 ? paneWidth / fits : Infinity;
}

/** What a summary box says of its layer's interventions: how many of its nodes are replaced
 * (ablated, frozen, or the heads an isolate zeroes) and how many patches it takes. */
export interface LayerMarks {
  replaced: number;
  patched: number;
  /** The intervention kinds on the layer, sorted, space-separated ("ablate patch"). */
  kinds: string;
}

/** Every layer with an intervention, with its marks; `replaced` lists the nodes an
 * intervention's output replaces (store.replacedNodes). */
export function layerMarks(
  interventions: readonly Intervention[],
  replaced: (i: Intervention) => string[]
): Map<number, LayerMarks> {
  const layerOf = (id: string): number | null => {
    const match = /^L(\d+)\./.exec(id);
    return match ? Number(match[1]) : null;
  };
  const nodes = new Map<number, Set<string>>();
  const patched = new Map<number, number>();
  const kinds = new Map<number, Set<string>>();
  for (const i of interventions) {
    const layer = layerOf(i.node);
    if (layer === null) {
      continue;
    }
    kinds.set(layer, (kinds.get(layer) ?? new Set()).add(i.kind));
    if (i.kind === 'patch') {
      patched.set(layer, (patched.get(layer) ?? 0) + 1);
    }
    for (const id of replaced(i)) {
      nodes.set(layer, (nodes.get(layer) ?? new Set()).add(id));
    }
  }
  return new Map(
    [...kinds].map(([layer, k]) => [
      layer,
      { replaced: nodes.get(layer)?.size ?? 0, patched: patched.get(layer) ?? 0, kinds: [...k].sort().join(' ') }
    ])
  );
}
