/**
 * The model graph (xyflow): positions come from the pure layout; only visible nodes render;
 * minimap, zoom and fit-view controls; a toolbar folds layers, filters node kinds and sets the
 * prompt that patches copy from. Dragging from a node's right-hand dot onto another node of the
 * same shape patches it (incompatible nodes grey out meanwhile); a patch edge's × removes it.
 */
import { Background, Connection, Controls, Edge, MiniMap, Node, ReactFlow } from '@xyflow/react';
import * as React from 'react';

import type { GraphNode, GraphSpec, NodeKind } from '../../protocol.generated';
import { describeIntervention, headColor } from '../format';
import { GraphLayout, LaidNode, layoutGraph } from '../layout';
import { CanvasSnapshot, CanvasStore, TARGET_KINDS, patchCompatible, zeroAblationOf } from '../store';
import { FrameFlowNode, ModelFlowNode, PatchFlowEdge, edgeTypes, nodeTypes } from './flowNodes';
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
  const byId = React.useMemo(() => new Map(graph.nodes.map(n => [n.id, n] as const)), [graph]);
  const { selectedNode, patchSource } = snap.view;
  const nodes = React.useMemo(
    () => flowNodes(layout, graph, snap, store, byId),
    [layout, graph, snap.state, snap.run, selectedNode, patchSource, store, byId]
  );
  const edges = React.useMemo(() => flowEdges(layout, snap, store), [layout, snap.state, store]);
  const initial = React.useMemo(() => initialView(layout), [graph]);
  const valid = React.useCallback(
    (c: Edge | Connection) => patchCompatible(byId.get(c.source), byId.get(c.target)),
    [byId]
  );
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
        <label className="jp-Transpector-patchprompt" title="Dragging a patch copies the source node's activation on this prompt (empty: the prompt above)">
          Patch from
          <input
            type="text"
            value={snap.view.patchPrompt}
            placeholder="the prompt above"
            spellCheck={false}
            onChange={e => store.setPatchPrompt(e.target.value)}
            onKeyDown={e => e.stopPropagation()}
          />
        </label>
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
          edgeTypes={edgeTypes}
          onlyRenderVisibleElements
          nodesDraggable={false}
          nodesConnectable
          connectOnClick={false}
          isValidConnection={valid}
          onConnectStart={(_, params) => store.setPatchSource(params.nodeId)}
          onConnectEnd={() => store.setPatchSource(null)}
          onConnect={c => store.addPatch(c.source, c.target)}
          connectionLineStyle={{ stroke: 'var(--jp-warn-color1)', strokeWidth: 2 }}
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

function flowNodes(layout: GraphLayout, graph: GraphSpec, snap: CanvasSnapshot, store: CanvasStore, byId: Map<string, GraphNode>): Node[] {
  const source = snap.view.patchSource;
  const patchState = (id: string): ModelFlowNode['data']['patch'] => {
    if (source === null) {
      return null;
    }
    return id === source ? 'source' : patchCompatible(byId.get(source), byId.get(id)) ? 'valid' : 'invalid';
  };
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
        patchable: TARGET_KINDS.has(n.kind),
        patch: patchState(n.id),
        onSelect: id => (n.kind === 'layer' ? store.toggleFold(n.layer ?? -1) : store.selectNode(id)),
        onToggleAblation: id => store.toggleAblation(id)
      }
    };
  });
  return [...frames, ...models];
}

function flowEdges(layout: GraphLayout, snap: CanvasSnapshot, store: CanvasStore): Edge[] {
  const interventions = snap.state?.interventions ?? [];
  const ablated = new Set(interventions.filter(i => i.kind !== 'patch').map(i => i.node));
  const model: Edge[] = layout.edges.map(e => ({
    id: e.id,
    source: e.source,
    target: e.target,
    className: `jp-Transpector-edge jp-mod-${e.kind}${ablated.has(e.source) ? ' jp-mod-ablated' : ''}`,
    focusable: false
  }));
  const laid = new Set(layout.nodes.map(n => n.id));
  const patches: PatchFlowEdge[] = interventions.flatMap(i =>
    i.kind === 'patch' && i.id && laid.has(i.source) && laid.has(i.node)
      ? [
          {
            id: `patch:${i.id}`,
            type: 'patch' as const,
            source: i.source,
            target: i.node,
            focusable: false,
            zIndex: 1,
            data: { label: describeIntervention(i), onRemove: () => store.send({ op: 'remove_intervention', id: i.id ?? '' }) }
          }
        ]
      : []
  );
  return [...model, ...patches];
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
