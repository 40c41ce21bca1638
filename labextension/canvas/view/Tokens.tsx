/**
 * Token chips with their ids; a click picks the position whose next-token top-k is shown.
 * The chip after the last token is the model's top prediction.
 */
import * as React from 'react';

import { percent, showToken } from '../format';
import { CanvasSnapshot } from '../store';

export function selectedPosition(snap: CanvasSnapshot): number {
  const n = snap.run?.tokens.length ?? 0;
  const chosen = snap.view.selectedPosition;
  return chosen !== null && chosen < n ? chosen : n - 1;
}

export function Tokens({ snap, onSelect }: { snap: CanvasSnapshot; onSelect: (p: number | null) => void }): React.ReactElement {
  const run = snap.run;
  if (!run) {
    return <div className="jp-Transpector-tokens jp-Transpector-dim">Running…</div>;
  }
  const selected = selectedPosition(snap);
  const next = run.top_k[run.top_k.length - 1]?.[0];
  return (
    <div className="jp-Transpector-tokens" role="group" aria-label="Tokens">
      {run.tokens.map((token, i) => (
        <button
          key={i}
          className="jp-Transpector-token"
          data-position={i}
          data-id={run.token_ids[i]}
          data-token={token}
          aria-pressed={i === selected}
          title={`position ${i} · id ${run.token_ids[i]} · ${JSON.stringify(token)}`}
          onClick={() => onSelect(i === run.tokens.length - 1 ? null : i)}
        >
          <span className="jp-Transpector-token-text">{showToken(token)}</span>
          <span className="jp-Transpector-token-id">{run.token_ids[i]}</span>
        </button>
      ))}
      {next && (
        <span className="jp-Transpector-next" title="The model's most likely next token" data-token={next.token}>
          → <span className="jp-Transpector-token-text">{showToken(next.token)}</span> {percent(next.prob)}
        </span>
      )}
    </div>
  );
}
