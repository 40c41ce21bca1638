/**
 * Top-k next tokens at the selected position, with probability bars; the list also shows a
 * logit-lens cell's top-k.
 */
import * as React from 'react';

import type { RunSummary, TokenProb } from '../../protocol.generated';
import { percent, shade, showToken } from '../format';
import { CanvasSnapshot } from '../store';
import { selectedPosition } from './Tokens';
import { memoCard } from './memo';

function TopKCard({ snap }: { snap: CanvasSnapshot }): React.ReactElement {
  const run = snap.run;
  const position = selectedPosition(snap);
  return (
    <section className="jp-Transpector-card jp-Transpector-outputs" aria-label="Top next tokens">
      <h3>
        Next token after position {position}
        {run && <span className="jp-Transpector-dim"> {JSON.stringify(run.tokens[position] ?? '')}</span>}
      </h3>
      <TokenProbList rows={run?.top_k[position] ?? []} itemClass="jp-Transpector-topk-item" />
      {run && <RunTiming timing={run.timing} />}
    </section>
  );
}

/** How the run was computed: its forward's time, resumed from a block or in full (and why). */
function RunTiming({ timing }: { timing: RunSummary['timing'] }): React.ReactElement {
  const how = timing.resumed_from_layer === null || timing.resumed_from_layer === undefined ? 'full forward' : `resumed at block ${timing.resumed_from_layer}`;
  return (
    <p className="jp-Transpector-dim jp-Transpector-timing" title={timing.note || how} data-resumed={timing.resumed_from_layer ?? ''}>
      {Math.round(timing.forward_ms)} ms, {how}
    </p>
  );
}

export function TokenProbList({ rows, itemClass }: { rows: TokenProb[]; itemClass: string }): React.ReactElement {
  return (
    <ol className="jp-Transpector-topk">
      {rows.map(row => (
        <li key={row.id} className={itemClass} data-token={row.token} data-id={row.id} data-prob={row.prob}>
          <span className="jp-Transpector-token-text" title={`id ${row.id}`}>
            {showToken(row.token)}
          </span>
          <span className="jp-Transpector-bar">
            <span style={{ width: `${shade(row.prob)}%` }} />
          </span>
          <span className="jp-Transpector-prob">{percent(row.prob)}</span>
        </li>
      ))}
    </ol>
  );
}

export const TopK = memoCard(TopKCard, 'run', 'view');
