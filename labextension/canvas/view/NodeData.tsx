/**
 * What a selected node shows from the kernel, fetched on demand as binary: a head's attention
 * pattern, a layer's patterns (overlaid or per head), an activation's norm or a norm node's scale
 * per position.
 */
import * as React from 'react';

import type { GraphNode } from '../../protocol.generated';
import { headColor } from '../format';
import { CanvasSnapshot, NodeData, nodeDataKey } from '../store';
import { Bars } from './Bars';
import { Heatmap, OverlayHeatmap } from './Heatmap';

export function Pattern({ snap, node }: { snap: CanvasSnapshot; node: GraphNode }): React.ReactElement {
  const data = snap.nodeData[nodeDataKey(node.id, 'pattern')];
  const tokens = snap.run?.tokens ?? [];
  if (data?.status !== 'ready') {
    return <NotReady data={data} what="attention pattern" />;
  }
  if (data.shape.length === 2) {
    const [rows, cols] = data.shape;
    return (
      <div className="jp-Transpector-scroll-x" data-pattern-shape={data.shape.join('x')}>
        <Heatmap values={data.values} rows={rows} cols={cols} tokens={tokens} title={`${node.label} attention`} />
      </div>
    );
  }
  return <AllHeads snap={snap} values={data.values} shape={data.shape} />;
}

/** A layer's [head, query, key] patterns: all heads overlaid in their colours, or one small
 * heatmap per head. */
function AllHeads({ snap, values, shape }: { snap: CanvasSnapshot; values: Float32Array; shape: number[] }): React.ReactElement {
  const [perHead, setPerHead] = React.useState(false);
  const [heads, rows, cols] = shape;
  const tokens = snap.run?.tokens ?? [];
  const colors = Array.from({ length: heads }, (_, h) => headColor(h, heads));
  const size = rows * cols;
  const cell = Math.max(3, Math.min(8, Math.floor(96 / Math.max(cols, 1))));
  return (
    <div data-pattern-shape={shape.join('x')}>
      <div className="jp-Transpector-row" role="group" aria-label="Attention view">
        {[false, true].map(choice => (
          <button key={String(choice)} className="jp-Transpector-button" aria-pressed={perHead === choice} onClick={() => setPerHead(choice)}>
            {choice ? 'Per head' : 'All heads overlaid'}
          </button>
        ))}
      </div>
      {perHead ? (
        <div className="jp-Transpector-multiples">
          {Array.from({ length: heads }, (_, h) => (
            <figure key={h}>
              <Heatmap values={values} offset={h * size} rows={rows} cols={cols} tokens={tokens} cell={cell} labels={false} title={`head ${h}`} />
              <figcaption>H{h}</figcaption>
            </figure>
          ))}
        </div>
      ) : (
        <>
          <div className="jp-Transpector-scroll-x jp-Transpector-overlay">
            <OverlayHeatmap values={values} heads={heads} colors={colors} rows={rows} cols={cols} tokens={tokens} title="all heads overlaid" />
          </div>
          <div className="jp-Transpector-legend" aria-label="Head colours">
            {colors.map((c, h) => (
              <span key={h} style={{ ['--tp-head-color' as string]: c }}>
                H{h}
              </span>
            ))}
          </div>
        </>
      )}
    </div>
  );
}

const PER_POSITION = {
  norm: { title: 'L2 norm of the activation per position', noun: 'activation norm', loading: 'activation norms' },
  scale: {
    title: 'Scale per position: what the norm divides the residual by (its RMS, after centering for LayerNorm)',
    noun: 'scale',
    loading: 'scales'
  }
};

/** One number per position: an activation's norm, or a norm node's scale. */
export function PerPosition(props: { snap: CanvasSnapshot; node: GraphNode; what: 'norm' | 'scale' }): React.ReactElement {
  const { snap, node, what } = props;
  const words = PER_POSITION[what];
  const data = snap.nodeData[nodeDataKey(node.id, what)];
  const tokens = snap.run?.tokens ?? [];
  if (data?.status !== 'ready') {
    return <NotReady data={data} what={words.loading} />;
  }
  const values = data.values;
  return (
    <div data-norm-shape={data.shape.join('x')} data-what={what}>
      <p className="jp-Transpector-dim">{words.title}</p>
      <Bars
        values={values}
        labels={tokens}
        label={`${node.label} ${words.noun} per position`}
        describe={i => `${JSON.stringify(tokens[i] ?? i)}: ${values[i].toFixed(3)}`}
      />
    </div>
  );
}

/** Node data still on its way, or the kernel's error for it. */
function NotReady({ data, what }: { data: NodeData | undefined; what: string }): React.ReactElement {
  if (data?.status === 'error') {
    return <p className="jp-Transpector-errortext">{data.message}</p>;
  }
  return <p className="jp-Transpector-dim">Loading {what}…</p>;
}
