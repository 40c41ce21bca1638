/**
 * The components xyflow draws: model nodes (heads carry a DLA badge, read from the store, and an
 * ablate button; a target node's right-hand dot starts a patch drag and its whole body takes the
 * drop), folded layers, the frame behind each layer (its header folds it), a layer's summary box
 * (zoomed far out), and patch edges (× removes one).
 */
import {
  BaseEdge,
  Edge,
  EdgeLabelRenderer,
  EdgeProps,
  Handle,
  Node,
  NodeProps,
  Position,
  getBezierPath
} from '@xyflow/react';
import * as React from 'react';

import type { LaidKind } from '../layout';
import { signed } from '../format';
import { firstLine } from '../notes';
import { divergingColor } from '../patchingGrid';
import { CanvasStore, headDla, largestHeadDla } from '../store';
import type { NodeActions } from './graphElements';

export type ModelNodeData = {
  id: string;
  kind: LaidKind;
  label: string;
  title: string;
  color: string | null;
  ablatable: boolean;
  /** A whole-node zero ablation is on (the ⊘ button toggles it). */
  ablated: boolean;
  /** Kinds of every intervention on this node, space-separated ("ablate freeze"). */
  marks: string;
  selected: boolean;
  /** Intervention target: patches can be dragged from and dropped on it. */
  patchable: boolean;
  /** During a patch drag: the node dragged from, a valid drop, or an incompatible one. */
  patch: 'source' | 'valid' | 'invalid' | null;
  /** Zoomed far out: drawn as a plain box. */
  far: boolean;
  /** A change to it was sent and the kernel has not taken it yet (a cell keeps it busy). */
  pending: boolean;
  /** Picked with others (shift-click or a shift-drag box) for one change on all. */
  picked: boolean;
  /** Its score in the last patching sweep, when the graph is tinted by it. */
  tint: number | null;
  /** The node's layer (a folded layer's click unfolds it) and head. */
  layer: number | null;
  head: number | null;
  actions: NodeActions;
};

export type FrameNodeData = {
  layer: number;
  folded: boolean;
  onToggleFold: (layer: number) => void;
};

/** A whole layer, zoomed far out: what its interventions replace and patch, counted. */
export type SummaryNodeData = {
  layer: number;
  folded: boolean;
  /** Graph pixels from the box's top to the residual row (where its edges meet it). */
  spine: number;
  /** How many of its nodes an intervention replaces (ablated, frozen, isolated away). */
  replaced: number;
  patched: number;
  /** The intervention kinds on the layer, space-separated. */
  kinds: string;
  onOpen: (layer: number) => void;
};

export type ModelFlowNode = Node<ModelNodeData, 'model'>;
export type FrameFlowNode = Node<FrameNodeData, 'frame'>;
export type SummaryFlowNode = Node<SummaryNodeData, 'summary'>;
export function ModelNode({ data }: NodeProps<ModelFlowNode>): React.ReactElement {
  const far = data.far;
  const note = useNote(data.actions.store, data.id);
  const style = {
    ...(data.color ? { ['--tp-head-color' as string]: data.color } : {}),
    ...(data.tint !== null ? { ['--tp-tint' as string]: divergingColor(data.tint) } : {})
  } as React.CSSProperties;
  return (
    <div
      className="jp-Transpector-node"
      data-node-id={data.id}
      data-kind={data.kind}
      data-ablated={data.ablated}
      data-marks={data.marks}
      data-selected={data.selected}
      data-patch={data.patch ?? undefined}
      data-far={far}
      data-pending={data.pending || undefined}
      data-picked={data.picked || undefined}
      data-tint={data.tint ?? undefined}
      data-noted={note ? true : undefined}
      style={style}
      title={
        data.pending
          ? `${data.title}: a change waits for the kernel`
          : data.tint !== null
            ? `${data.title}: patching score ${data.tint.toFixed(3)}`
            : data.title
      }
      onClick={event =>
        data.kind === 'layer'
          ? data.actions.fold(data.layer ?? -1)
          : event.shiftKey
            ? data.actions.pick(data.id)
            : data.actions.select(data.id)
      }
    >
      <Handle
        type="target"
        position={Position.Left}
        className="jp-Transpector-drop"
        isConnectable={data.patchable}
        isConnectableStart={false}
      />
      {!far && <NodeContent data={data} />}
      {data.pending && (
        <span className="jp-Transpector-pending-mark" aria-label="waiting for the kernel">
          ⧗
        </span>
      )}
      {note && (
        <span className="jp-Transpector-note-mark" title={firstLine(note)} aria-label={`Note: ${firstLine(note)}`}>
          ✎
        </span>
      )}
      <Handle
        type="source"
        position={Position.Right}
        className={data.patchable ? 'jp-Transpector-patch-handle' : undefined}
        isConnectable={data.patchable}
        isConnectableEnd={false}
        title={data.patchable ? `Drag onto a node of the same shape to patch ${data.title} into it` : undefined}
      />
    </div>
  );
}

/** The session's note on `node` ('' for none), read from the store: a note changes no node. */
function useNote(store: CanvasStore, node: string): string {
  return React.useSyncExternalStore(store.subscribe, () => store.snapshot.state?.notes?.[node] ?? '');
}

/** A node's label, DLA badge and ablate button (left out when zoomed far out). */
function NodeContent({ data }: { data: ModelNodeData }): React.ReactElement {
  return (
    <>
      <button
        className="jp-Transpector-node-label nodrag"
        aria-pressed={data.selected}
        aria-label={`Select ${data.title}`}
      >
        {data.label}
      </button>
      {data.kind === 'head' && <DlaBadge store={data.actions.store} layer={data.layer ?? -1} head={data.head ?? -1} />}
      {data.ablatable && (
        <button
          className="jp-Transpector-ablate nodrag"
          aria-pressed={data.ablated}
          aria-label={`${data.ablated ? 'Remove zero-ablation of' : 'Zero-ablate'} ${data.title}`}
          title={data.ablated ? 'Ablated: click to restore' : 'Zero-ablate'}
          onClick={event => {
            event.stopPropagation();
            data.actions.toggleAblation(data.id);
          }}
        >
          ⊘
        </button>
      )}
    </>
  );
}

/** A head's direct logit attribution in the latest run, shaded by its share of the largest. */
function DlaBadge({ store, layer, head }: { store: CanvasStore; layer: number; head: number }): React.ReactElement | null {
  const value = React.useSyncExternalStore(store.subscribe, () => headDla(store.snapshot.run, layer, head));
  const largest = React.useSyncExternalStore(store.subscribe, () => largestHeadDla(store.snapshot.run));
  const target = React.useSyncExternalStore(store.subscribe, () => store.snapshot.run?.dla_label ?? '');
  if (value === null) {
    return null;
  }
  return (
    <span
      className="jp-Transpector-dla"
      data-sign={value < 0 ? 'negative' : 'positive'}
      style={{ ['--tp-shade' as string]: `${Math.round((Math.abs(value) / largest) * 100)}%` }}
      title={`direct logit attribution${target ? ` to ${target}` : ''}: ${signed(value, 3)}`}
    >
      {signed(value)}
    </span>
  );
}

export function FrameNode({ data }: NodeProps<FrameFlowNode>): React.ReactElement {
  return (
    <div className="jp-Transpector-frame" data-layer={data.layer} data-folded={data.folded}>
      <button
        className="jp-Transpector-frame-header nodrag"
        aria-expanded={!data.folded}
        onClick={() => data.onToggleFold(data.layer)}
      >
        {data.folded ? '▸' : '▾'} Layer {data.layer}
      </button>
    </div>
  );
}

/** A layer zoomed far out: its number and its marks, large enough to read at that zoom; a click
 * zooms into it. Its edges meet it on the residual row. */
export function SummaryNode({ data }: NodeProps<SummaryFlowNode>): React.ReactElement {
  const spine = { top: data.spine };
  const what = [
    data.replaced > 0 ? `${data.replaced} replaced (ablated, frozen or isolated away)` : '',
    data.patched > 0 ? `${data.patched} patched` : ''
  ].filter(Boolean);
  return (
    <div
      className="jp-Transpector-summary"
      data-layer={data.layer}
      data-marks={data.kinds}
      data-replaced={data.replaced}
      data-patched={data.patched}
      title={`Layer ${data.layer}${what.length ? `: ${what.join(', ')}` : ''}. Click to zoom in.`}
      onClick={() => data.onOpen(data.layer)}
    >
      <Handle type="target" position={Position.Left} isConnectable={false} style={spine} />
      <span className="jp-Transpector-summary-label">L{data.layer}</span>
      {data.replaced > 0 && (
        <span className="jp-Transpector-summary-mark" data-mark="replaced">
          ⊘{data.replaced}
        </span>
      )}
      {data.patched > 0 && (
        <span className="jp-Transpector-summary-mark" data-mark="patched">
          ⇢{data.patched}
        </span>
      )}
      <Handle type="source" position={Position.Right} isConnectable={false} style={spine} />
    </div>
  );
}

export type PatchEdgeData = { label: string; onRemove: () => void };
export type PatchFlowEdge = Edge<PatchEdgeData, 'patch'>;

export function PatchEdge(props: EdgeProps<PatchFlowEdge>): React.ReactElement {
  const { id, source, target, sourceX, sourceY, targetX, targetY, sourcePosition, targetPosition, data } = props;
  // A node patched into itself (same site, another prompt): a loop over the node, not a line
  // through its label.
  const [path] =
    source === target
      ? [`M ${sourceX} ${sourceY} C ${sourceX + 30} ${sourceY - 36}, ${targetX - 30} ${targetY - 36}, ${targetX} ${targetY}`]
      : getBezierPath({ sourceX, sourceY, targetX, targetY, sourcePosition, targetPosition });
  // The remove button sits just before the target, clear of the nodes a long edge crosses.
  const [labelX, labelY] = [targetX - 16, targetY];
  return (
    <>
      <BaseEdge id={id} path={path} className="jp-Transpector-patch-edge" />
      <EdgeLabelRenderer>
        <button
          className="jp-Transpector-patch-remove nodrag nopan"
          style={{ transform: `translate(-50%, -50%) translate(${labelX}px, ${labelY}px)` }}
          aria-label={`Remove ${data?.label ?? 'patch'}`}
          title={`${data?.label ?? 'patch'}: click to remove`}
          onClick={() => data?.onRemove()}
        >
          ×
        </button>
      </EdgeLabelRenderer>
    </>
  );
}

export const nodeTypes = { model: ModelNode, frame: FrameNode, summary: SummaryNode };
export const edgeTypes = { patch: PatchEdge };
