/**
 * Top-k next tokens at the selected position, with probability bars; the list also shows a
 * logit-lens cell's top-k. With interventions, each token also shows its probability in the
 * clean run (no interventions) and the change, and a change of a point or more stands out.
 */
import * as React from 'react';

import type { RunSummary, TokenProb } from '../../protocol.generated';
import { percent, shade, showToken, signed } from '../format';
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
      {run?.clean_probs && <p className="jp-Transpector-dim jp-Transpector-legend">now · clean · change (points)</p>}
      <TokenProbList rows={run?.top_k[position] ?? []} clean={run?.clean_probs?.[position]} itemClass="jp-Transpector-topk-item" />
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

/** A change of at least this much probability stands out (one percentage point). */
export const CHANGED = 0.01;

export function TokenProbList(props: { rows: TokenProb[]; clean?: number[] | null; itemClass: string }): React.ReactElement {
  const { rows, clean, itemClass } = props;
  return (
    <ol className="jp-Transpector-topk" data-compare={clean ? 'true' : undefined}>
      {rows.map((row, i) => {
        const before = clean?.[i];
        const change = before === undefined ? null : row.prob - before;
        return (
          <li
            key={row.id}
            className={itemClass}
            data-token={row.token}
            data-id={row.id}
            data-prob={row.prob}
            data-clean-prob={before}
            data-changed={change !== null && Math.abs(change) >= CHANGED ? (change > 0 ? 'up' : 'down') : undefined}
          >
            <span className="jp-Transpector-token-text" title={`id ${row.id}`}>
              {showToken(row.token)}
            </span>
            <span className="jp-Transpector-bar">
              <span style={{ width: `${shade(row.prob)}%` }} />
            </span>
            <span className="jp-Transpector-prob">{percent(row.prob)}</span>
            {before !== undefined && change !== null && (
              <>
                <span className="jp-Transpector-prob jp-Transpector-dim" title="In the clean run (no interventions)">
                  {percent(before)}
                </span>
                <span className="jp-Transpector-delta" title="Now minus clean, in percentage points">
                  {Math.abs(change) < 0.0005 ? '0.0' : signed(change * 100, 1)}
                </span>
              </>
            )}
          </li>
        );
      })}
    </ol>
  );
}

export const TopK = memoCard(TopKCard, 'run', 'view');
