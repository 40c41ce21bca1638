/**
 * The model graph (xyflow): positions come from the pure layout; only visible nodes render;
 * minimap, zoom and fit-view controls; a toolbar folds layers and filters node kinds.
 */
import { Background, Controls, Edge, MiniMap, Node, ReactFlow } from '@xyflow/react';
import * as React from 'react';

import type { GraphSpec, NodeKind } from '../../protocol.generated';
import { headColor } from '../format';
import { GraphLayout, LaidNode, layoutGraph } from '../layout';
import { CanvasSnapshot, CanvasStore, zeroAblationOf } from '../store';
import { FrameFlowNode, ModelFlowNode, nodeTypes } from './flowNodes';
import { ABLATABLE } from './NodeDetail';

const FILTERS: { label: string; kinds: NodeKind[] }[] = [
  { label: 'Norms', kinds: ['ln1', 'ln2', 'ln_final'] },
  { label: 'Residual', kinds: ['resid_pre', 'resid_mid', 'resid_post'] },
  { label: 'Heads', kinds: ['head'] },
  { label: 'MLP', kinds: ['mlp'] }
];

export function GraphPane({ store, snap, graph }: { store: CanvasStore; snap: CanvasSnapshot; graph: GraphSpec }): React.ReactElement {
  const { folded, hiddenKinds } = snap.view;
  const layout = React.useMemo(
    () => layoutGraph(graph, { folded, hiddenKinds }),
    [graph, folded, hiddenKinds]
  );
  const nodes = React.useMemo(() => flowNodes(layout, graph, snap, store), [layout, graph, snap.state, snap.run, snap.view.selectedNode, store]);
  const edges = React.useMemo(() => flowEdges(layout, snap), [layout, snap.state]);
  const initial = React.useMemo(() => initialView(layout), [graph]);
  return (
    <div className="jp-Transpector-graph">
      <div className="jp-Transpector-graph-toolbar" role="toolbar" aria-label="Graph">
        {FILTERS.filter(f => f.kinds.some(k => graph.nodes.some(n => n.kind === k))).map(f => {
          const shown = !f.kinds.every(k => hiddenKinds.includes(k));
          return (
            <button
              key={f.label}
              className="jp-Transpector-button"
              aria-pressed={shown}
              onClick={() => f.kinds.filter(k => hiddenKinds.includes(k) === !shown).forEach(k => store.toggleKind(k))}
            >
              {f.label}
            </button>
          );
        })}
        <span className="jp-Transpector-spacer" />
        <button className="jp-Transpector-button" onClick={() => store.setFolded(Array.from({ length: graph.n_layers }, (_, l) => l))}>
          Fold all
        </button>
        <button className="jp-Transpector-button" onClick={() => store.setFolded([])}>
          Unfold all
        </button>
      </div>
      <div className="jp-Transpector-flow">
        <ReactFlow
          key={graph.model_name}
          nodes={nodes}
          edges={edges}
          nodeTypes={nodeTypes}
          onlyRenderVisibleElements
          nodesDraggable={false}
          nodesConnectable={false}
          nodesFocusable={false}
          edgesFocusable={false}
          elementsSelectable={false}
          fitView
          fitViewOptions={{ nodes: initial, padding: 0.12, maxZoom: 1 }}
          minZoom={0.03}
          maxZoom={2.5}
        >
          <Background gap={24} size={1} />
          <Controls showInteractive={false} orientation="horizontal" position="top-left" />
          <MiniMap pannable zoomable nodeColor={minimapColor} nodeStrokeWidth={0} ariaLabel="Minimap" style={{ width: 120, height: 60 }} />
        </ReactFlow>
      </div>
    </div>
  );
}

function shortLabel(node: LaidNode): string {
  if (node.kind === 'head') {
    return `H${node.head}`;
  }
  if (node.kind === 'resid_pre' || node.kind === 'resid_mid' || node.kind === 'resid_post') {
    return node.kind.slice(6);
  }
  return node.layer !== null ? node.label.replace(new RegExp(` ${node.layer}$`), '') : node.label;
}

function flowNodes(layout: GraphLayout, graph: GraphSpec, snap: CanvasSnapshot, store: CanvasStore): Node[] {
  const dla = snap.run?.head_dla ?? [];
  const marks = new Map<string, Set<string>>();
  for (const i of snap.state?.interventions ?? []) {
    marks.set(i.node, (marks.get(i.node) ?? new Set()).add(i.kind));
  }
  const maxDla = Math.max(1e-9, ...dla.flat().map(Math.abs));
  const frames: FrameFlowNode[] = layout.frames.map(f => ({
    id: `frame.L${f.layer}`,
    type: 'frame',
    position: { x: f.x, y: f.y },
    width: f.width,
    height: f.height,
    // Frames let clicks through to the pane (panning); only their header button takes them.
    style: { width: f.width, height: f.height, pointerEvents: 'none' },
    zIndex: -1,
    selectable: false,
    data: { layer: f.layer, folded: f.folded, onToggleFold: l => store.toggleFold(l) }
  }));
  const models: ModelFlowNode[] = layout.nodes.map(n => {
    const value = n.kind === 'head' ? dla[n.layer ?? -1]?.[n.head ?? -1] : undefined;
    return {
      id: n.id,
      type: 'model',
      position: { x: n.x, y: n.y },
      width: n.width,
      height: n.height,
      style: { width: n.width, height: n.height, pointerEvents: 'all' },
      data: {
        id: n.id,
        kind: n.kind,
        label: n.kind === 'layer' ? n.label : shortLabel(n),
        title: n.kind === 'head' ? `head ${n.id}` : n.id,
        color: n.kind === 'head' ? headColor(n.head ?? 0, graph.n_heads) : null,
        dla: value ?? null,
        dlaShare: value === undefined ? 0 : Math.abs(value) / maxDla,
        ablatable: ABLATABLE.has(n.kind),
        ablated: zeroAblationOf(snap.state, n.id) !== undefined,
        marks: [...(marks.get(n.id) ?? [])].sort().join(' '),
        selected: snap.view.selectedNode === n.id,
        onSelect: id => (n.kind === 'layer' ? store.toggleFold(n.layer ?? -1) : store.selectNode(id)),
        onToggleAblation: id => store.toggleAblation(id)
      }
    };
  });
  return [...frames, ...models];
}

function flowEdges(layout: GraphLayout, snap: CanvasSnapshot): Edge[] {
  const ablated = new Set((snap.state?.interventions ?? []).map(i => i.node));
  return layout.edges.map(e => ({
    id: e.id,
    source: e.source,
    target: e.target,
    className: `jp-Transpector-edge jp-mod-${e.kind}${ablated.has(e.source) ? ' jp-mod-ablated' : ''}`,
    focusable: false
  }));
}

/** Start on the first layer: readable, not a tiny whole-model overview (fit view shows all). */
function initialView(layout: GraphLayout): { id: string }[] {
  const first = layout.nodes.filter(n => n.layer === 0);
  if (first.length === 0) {
    return layout.nodes.map(n => ({ id: n.id }));
  }
  return [{ id: 'frame.L0' }, ...first.map(n => ({ id: n.id }))];
}

function minimapColor(node: Node): string {
  if (node.type === 'frame') {
    return 'var(--jp-layout-color2)';
  }
  const data = node.data as { color?: string | null; ablated?: boolean };
  if (data.ablated) {
    return 'var(--jp-error-color1)';
  }
  return data.color ?? 'var(--jp-layout-color4)';
}
