/**
 * The model graph (xyflow): positions come from the pure layout; only visible nodes render, and
 * zoomed far out each layer is one summary box (no view holds more than NODE_BUDGET nodes);
 * minimap, zoom and fit-view controls; a toolbar folds layers, filters node kinds, finds a node
 * (centred in the part of the pane in sight) and sets the prompt that patches copy from.
 * Dragging from a node's right-hand dot onto another node of the same shape patches it
 * (incompatible nodes grey out meanwhile, and a drop on one says why); a patch edge's × removes
 * it. Shift-click, or a box dragged with shift held, picks several nodes; the bar above the
 * graph then ablates, isolates, freezes or patches them all in one change.
 */
import {
  Background,
  Connection,
  Controls,
  Edge,
  FinalConnectionState,
  MiniMap,
  Node,
  NodeChange,
  ReactFlow,
  ReactFlowInstance,
  useStore
} from '@xyflow/react';
import * as React from 'react';

import type { CompositionResult, EdgeAttributionResult, GraphSpec, NodeKind, PatchingResult } from '../../protocol.generated';
import { sweepTints } from '../patchingGrid';
import { Detail, NODE_BUDGET, detailAt, layerMarks, summarizeLayers, summaryZoom } from '../layerSummary';
import { GraphLayout, layoutGraph } from '../layout';
import { COMPOSITION_KEY, CanvasSnapshot, EDGES_KEY, CanvasStore, PATCHING_KEY, nodeById, nodesById, patchCompatible, replacedNodes } from '../store';
import { centredViewport, scrollToShow, visiblePart } from '../viewport';
import { edgeTypes, nodeTypes } from './flowNodes';
import { FindNode, PickedBar } from './GraphBars';
import {
  ablatedEdgesCss,
  scoredEdges,
  flowEdges,
  flowNodes,
  nodeActions,
  nodeCentre,
  patchEdges,
  reuseUnchanged,
  sameOrNext,
  summaryFlowNodes
} from './graphElements';

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
  const byId = nodesById(graph);
  const { selectedNode, patchSource } = snap.view;
  // Zoomed far out, nodes are specks: plain boxes, and the heads' edges (two per head) go;
  // further out, each layer is one summary box where its frame is.
  const [detail, setDetail] = React.useState<Detail>('near');
  const far = detail !== 'near';
  const summary = React.useMemo(() => summarizeLayers(layout), [layout]);
  const drawn = detail === 'summary' ? summary : layout;
  const actions = React.useMemo(() => nodeActions(store), [store]);
  const interventions = snap.state?.interventions ?? [];
  const marks = React.useMemo(() => layerMarks(interventions, i => replacedNodes(i, graph.n_heads)), [interventions, graph]);
  const flow = React.useRef<ReactFlowInstance | null>(null);
  const flowBox = React.useRef<HTMLDivElement | null>(null);
  const layoutNow = React.useRef(layout);
  layoutNow.current = layout;
  // A click on a summary box zooms into its layer.
  const openLayer = React.useCallback((layer: number) => {
    const frame = layoutNow.current.frames.find(f => f.layer === layer);
    if (frame) {
      void flow.current?.fitBounds(frame, { padding: 0.05, duration: 200 });
    }
  }, []);
  const sweep = snap.tools[PATCHING_KEY];
  const tints = React.useMemo(
    () => (snap.view.tintBySweep && sweep?.status === 'ready' ? sweepTints(sweep.result as PatchingResult) : undefined),
    [snap.view.tintBySweep, sweep]
  );
  const previous = React.useRef<Node[]>([]);
  const nodes = React.useMemo(() => {
    const before = new Map(previous.current.map(n => [n.id, n]));
    const built =
      detail === 'summary'
        ? summaryFlowNodes(summary, marks, openLayer, flowNodes({ ...layout, nodes: summary.nodes, frames: [] }, graph, snap, actions, byId, true))
        : flowNodes(layout, graph, snap, actions, byId, far, tints);
    previous.current = sameOrNext(previous.current, reuseUnchanged(before, built));
    return previous.current;
  }, [layout, summary, marks, openLayer, detail, graph, snap.state, snap.pending, snap.view.picked, tints, selectedNode, patchSource, actions, byId, far]);
  // The model's edges change with the layout only; patch edges with the patches; ablations
  // restyle edges through CSS (ablatedEdgesCss), so xyflow gets no new edges for them.
  const modelEdges = React.useMemo(() => flowEdges(drawn, far), [drawn, far]);
  const patchKey = React.useMemo(() => JSON.stringify(interventions.filter(i => i.kind === 'patch')), [interventions]);
  const patches = React.useMemo(() => patchEdges(drawn, interventions, store), [drawn, patchKey, store]);
  const composition = snap.tools[COMPOSITION_KEY];
  const threshold = snap.view.compositionThreshold;
  const composed = React.useMemo(
    () =>
      threshold !== null && composition?.status === 'ready'
        ? scoredEdges(drawn, (composition.result as CompositionResult).edges, threshold, 'composition')
        : [],
    [drawn, composition, threshold]
  );
  const scored = snap.tools[EDGES_KEY];
  const cut = snap.view.circuitThreshold;
  const circuit = React.useMemo(
    () =>
      cut !== null && scored?.status === 'ready' ? scoredEdges(drawn, (scored.result as EdgeAttributionResult).edges, cut, 'circuit') : [],
    [drawn, scored, cut]
  );
  const edges = React.useMemo(() => [...modelEdges, ...patches, ...composed, ...circuit], [modelEdges, patches, composed, circuit]);
  const scope = React.useId();
  const ablatedCss = React.useMemo(() => ablatedEdgesCss(interventions, scope, graph.n_heads), [interventions, scope, graph]);
  const initial = React.useMemo(() => initialView(layout), [graph]);
  const valid = React.useCallback(
    (c: Edge | Connection) => patchCompatible(byId.get(c.source), byId.get(c.target)),
    [byId]
  );
  // Find a node by id (the keyboard's way to any node, drawn or not): select it, make sure it is
  // drawn (unfold its layer, show its kind), then centre it in the part of the pane in sight.
  const onReady = React.useCallback((instance: ReactFlowInstance) => void (flow.current = instance), []);
  const find = (id: string): void => {
    const node = byId.get(id);
    if (!node) {
      return;
    }
    const unfold = node.layer !== null && node.layer !== undefined && folded.includes(node.layer);
    if (unfold) {
      store.toggleFold(node.layer as number);
    }
    const show = hiddenKinds.includes(node.kind);
    if (show) {
      store.toggleKind(node.kind);
    }
    store.selectNode(id);
    // Where the node will be once drawn: the same pure layout the next render makes.
    const next = layoutGraph(graph, {
      folded: unfold ? folded.filter(l => l !== node.layer) : folded,
      hiddenKinds: show ? hiddenKinds.filter(k => k !== node.kind) : hiddenKinds
    });
    const at = nodeCentre(next, id);
    if (at && flowBox.current) {
      const view = showPane(flowBox.current);
      void flow.current?.setViewport(centredViewport(at, view.part, view.pane, FIND_ZOOM), { duration: 200 });
    }
  };
  // A card's click on a node (store.focusNode) is found the same way.
  const findNow = React.useRef(find);
  findNow.current = find;
  React.useEffect(() => store.onFocusNode(id => findNow.current(id)), [store]);
  return (
    <div className="jp-Transpector-graph" data-graph={scope}>
      {ablatedCss && <style>{ablatedCss}</style>}
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
        <FindNode graph={graph} byId={byId} onFind={find} />
        <span className="jp-Transpector-spacer" />
        <label className="jp-Transpector-field jp-mod-patchprompt" title="Dragging a patch copies the source node's activation on this prompt (empty: the prompt above)">
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
      {snap.view.picked.length > 0 && <PickedBar store={store} snap={snap} byId={byId} />}
      <div className="jp-Transpector-flow" ref={flowBox}>
        <Flow
          key={graph.model_name}
          nodes={nodes}
          edges={edges}
          layout={layout}
          initial={initial}
          valid={valid}
          store={store}
          onDetail={setDetail}
          onReady={onReady}
        />
      </div>
    </div>
  );
}

/** The zoom Find moves to: labels and buttons at their size. */
const FIND_ZOOM = 1;

/** Scroll the pane's panel (the nearest scrolling ancestor) to show all of the pane if it fits;
 * then the pane's rectangle and the part of it in sight (pane pixels). */
function showPane(box: HTMLElement): { pane: DOMRect; part: ReturnType<typeof visiblePart> } {
  const scrollers: HTMLElement[] = [];
  for (let e = box.parentElement; e; e = e.parentElement) {
    if (['auto', 'scroll'].includes(getComputedStyle(e).overflowY)) {
      scrollers.push(e);
    }
  }
  const [panel] = scrollers;
  if (panel) {
    panel.scrollTop = scrollToShow(box.getBoundingClientRect(), panel.getBoundingClientRect(), panel.scrollTop);
  }
  const clips = [...scrollers.map(e => e.getBoundingClientRect()), new DOMRect(0, 0, window.innerWidth, window.innerHeight)];
  const pane = box.getBoundingClientRect();
  return { pane, part: visiblePart(pane, clips) };
}

const CONNECTION_LINE = { stroke: 'var(--jp-warn-color1)', strokeWidth: 2 };
const MINIMAP_SIZE = { width: 120, height: 60 };

interface FlowProps {
  nodes: Node[];
  edges: Edge[];
  layout: GraphLayout;
  initial: { id: string }[];
  valid: (c: Edge | Connection) => boolean;
  store: CanvasStore;
  onDetail: (detail: Detail) => void;
  onReady: (flow: ReactFlowInstance) => void;
}

/** Tells how much the graph should draw at xyflow's zoom and pane width: re-renders only when
 * the answer changes, not on every frame of a pan or zoom. */
function DetailWatch({ layout, onDetail }: { layout: GraphLayout; onDetail: (detail: Detail) => void }): null {
  const width = useStore(s => s.width);
  const below = React.useMemo(() => summaryZoom(layout, width, NODE_BUDGET), [layout, width]);
  const detail = useStore(s => detailAt(s.transform[2], below));
  React.useEffect(() => onDetail(detail), [detail, onDetail]);
  return null;
}

/**
 * xyflow itself, with props that keep their identity between renders: a new run or a prompt
 * edit re-renders none of it (a changed prop would update xyflow's store, and every node, edge
 * and minimap rect listening to it).
 */
const Flow = React.memo(function Flow({ nodes, edges, layout, initial, valid, store, onDetail, onReady }: FlowProps): React.ReactElement {
  const fitViewOptions = React.useMemo(() => ({ nodes: initial, padding: 0.12, maxZoom: 1 }), [initial]);
  // A box dragged with shift picks the nodes in it; xyflow's other selection changes (a plain
  // click selects one node) are the canvas's own business, so they are let go.
  const boxing = React.useRef(false);
  const on = React.useMemo(
    () => ({
      connectStart: (_: unknown, params: { nodeId: string | null }) => store.setPatchSource(params.nodeId),
      connectEnd: (_: unknown, state: FinalConnectionState) => {
        store.setPatchSource(null);
        if (state.isValid === false && state.fromNode && state.toNode) {
          store.addPatch(state.fromNode.id, state.toNode.id); // refused: the banner says why
        }
      },
      connect: (c: Connection) => void store.addPatch(c.source, c.target),
      selectionStart: () => void (boxing.current = true),
      selectionEnd: () => void (boxing.current = false),
      nodesChange: (changes: NodeChange[]) => {
        if (!boxing.current) {
          return;
        }
        const picked = new Set(store.snapshot.view.picked);
        for (const change of changes) {
          if (change.type === 'select' && nodeById(store.snapshot.graph, change.id)) {
            if (change.selected) {
              picked.add(change.id);
            } else {
              picked.delete(change.id);
            }
          }
        }
        store.setPicked([...picked]);
      }
    }),
    [store]
  );
  return (
    <ReactFlow
      nodes={nodes}
      edges={edges}
      nodeTypes={nodeTypes}
      edgeTypes={edgeTypes}
      onlyRenderVisibleElements
      onInit={onReady}
      nodesDraggable={false}
      nodesConnectable
      connectOnClick={false}
      isValidConnection={valid}
      onConnectStart={on.connectStart}
      onConnectEnd={on.connectEnd}
      onConnect={on.connect}
      connectionLineStyle={CONNECTION_LINE}
      nodesFocusable={false}
      edgesFocusable={false}
      elementsSelectable
      selectionKeyCode="Shift"
      multiSelectionKeyCode={null}
      onSelectionStart={on.selectionStart}
      onSelectionEnd={on.selectionEnd}
      onNodesChange={on.nodesChange}
      fitView
      fitViewOptions={fitViewOptions}
      minZoom={0.03}
      maxZoom={2.5}
    >
      <DetailWatch layout={layout} onDetail={onDetail} />
      <Background gap={24} size={1} />
      <Controls showInteractive={false} orientation="horizontal" position="top-left" />
      <MiniMap pannable zoomable nodeColor={minimapColor} nodeStrokeWidth={0} ariaLabel="Minimap" style={MINIMAP_SIZE} />
    </ReactFlow>
  );
});

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
  const data = node.data as { color?: string | null; ablated?: boolean; replaced?: number };
  if (data.ablated || (data.replaced ?? 0) > 0) {
    return 'var(--jp-error-color1)';
  }
  if (node.type === 'summary') {
    return 'var(--jp-layout-color3)';
  }
  return data.color ?? 'var(--jp-layout-color4)';
}
