/**
 * The node components xyflow draws: model nodes (heads carry a DLA badge and an ablate button),
 * folded layers, and the frame behind each layer (its header folds the layer).
 */
import { Handle, Node, NodeProps, Position } from '@xyflow/react';
import * as React from 'react';

import type { LaidKind } from '../layout';
import { signed } from '../format';

export type ModelNodeData = {
  id: string;
  kind: LaidKind;
  label: string;
  title: string;
  color: string | null;
  dla: number | null;
  /** |dla| over the largest |dla| of the run, for the badge's shade. */
  dlaShare: number;
  ablatable: boolean;
  /** A whole-node zero ablation is on (the ⊘ button toggles it). */
  ablated: boolean;
  /** Kinds of every intervention on this node, space-separated ("ablate freeze"). */
  marks: string;
  selected: boolean;
  onSelect: (id: string) => void;
  onToggleAblation: (id: string) => void;
};

export type FrameNodeData = {
  layer: number;
  folded: boolean;
  onToggleFold: (layer: number) => void;
};

export type ModelFlowNode = Node<ModelNodeData, 'model'>;
export type FrameFlowNode = Node<FrameNodeData, 'frame'>;

export function ModelNode({ data }: NodeProps<ModelFlowNode>): React.ReactElement {
  const style = data.color ? ({ ['--tp-head-color' as string]: data.color } as React.CSSProperties) : undefined;
  return (
    <div
      className="jp-Transpector-node"
      data-node-id={data.id}
      data-kind={data.kind}
      data-ablated={data.ablated}
      data-marks={data.marks}
      data-selected={data.selected}
      style={style}
      title={data.title}
      onClick={() => data.onSelect(data.id)}
    >
      <Handle type="target" position={Position.Left} isConnectable={false} />
      <button
        className="jp-Transpector-node-label nodrag"
        aria-pressed={data.selected}
        aria-label={`Select ${data.title}`}
      >
        {data.label}
      </button>
      {data.dla !== null && (
        <span
          className="jp-Transpector-dla"
          data-sign={data.dla < 0 ? 'negative' : 'positive'}
          style={{ ['--tp-shade' as string]: `${Math.round(data.dlaShare * 100)}%` }}
          title={`direct logit attribution ${signed(data.dla, 3)}`}
        >
          {signed(data.dla)}
        </span>
      )}
      {data.ablatable && (
        <button
          className="jp-Transpector-ablate nodrag"
          aria-pressed={data.ablated}
          aria-label={`${data.ablated ? 'Remove zero-ablation of' : 'Zero-ablate'} ${data.title}`}
          title={data.ablated ? 'Ablated: click to restore' : 'Zero-ablate'}
          onClick={event => {
            event.stopPropagation();
            data.onToggleAblation(data.id);
          }}
        >
          ⊘
        </button>
      )}
      <Handle type="source" position={Position.Right} isConnectable={false} />
    </div>
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

export const nodeTypes = { model: ModelNode, frame: FrameNode };
