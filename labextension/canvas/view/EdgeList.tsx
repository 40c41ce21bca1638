/**
 * The first edges of a scored list (head composition, edge attribution), largest first: each
 * "from → to" selects its later node, with its score beside it.
 */
import * as React from 'react';

import type { CanvasStore } from '../store';

/** Rows listed. */
const LISTED = 8;

/** A score: three decimals, or two significant figures when smaller. */
export function edgeScore(value: number): string {
  return Math.abs(value) >= 0.01 || value === 0 ? value.toFixed(3) : value.toExponential(1);
}

export function EdgeList(props: { store: CanvasStore; edges: { from_node: string; to_node: string; score: number }[] }): React.ReactElement {
  const { store, edges } = props;
  return (
    <ol className="jp-Transpector-edges">
      {edges.slice(0, LISTED).map(e => (
        <li key={`${e.from_node}-${e.to_node}`} data-from={e.from_node} data-to={e.to_node} data-score={e.score}>
          <button className="jp-Transpector-linkbutton" onClick={() => store.selectNode(e.to_node)} title={`Select ${e.to_node}`}>
            {e.from_node} → {e.to_node}
          </button>{' '}
          <span className="jp-Transpector-dim">{edgeScore(e.score)}</span>
        </li>
      ))}
    </ol>
  );
}
