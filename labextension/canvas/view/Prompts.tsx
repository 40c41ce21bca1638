/**
 * The session's prompts: the list (one per line), which one the canvas shows, and a run of them
 * all (the prompt_batch tool) with progress, cancel and one row per prompt.
 */
import * as React from 'react';

import type { BatchRow } from '../../protocol.generated';
import { percent, showToken } from '../format';
import { CanvasSnapshot, CanvasStore, PROMPT_BATCH_KEY, toolAnswer } from '../store';
import { LinesEditor } from './LinesEditor';
import { ProgressRow } from './Progress';
import { memoCard } from './memo';

function PromptsCard({ store, snap }: { store: CanvasStore; snap: CanvasSnapshot }): React.ReactElement {
  const prompts = snap.state?.prompts ?? [];
  const active = snap.state?.active ?? 0;
  const batch = toolAnswer<'prompt_batch'>(snap, PROMPT_BATCH_KEY);
  const progress = batch?.status === 'loading' ? batch.progress : undefined;
  const rows = batch?.status === 'ready' ? batch.result.rows : [];
  return (
    <section className="jp-Transpector-card jp-Transpector-prompts" aria-label="Prompts">
      <h3>
        Prompts <span className="jp-Transpector-dim">{prompts.length} · the canvas shows the one picked</span>
      </h3>
      <LinesEditor label="One per line" values={prompts} noun="prompt" allowEmpty={false} onSet={texts => store.setPrompts(texts)} />
      <div className="jp-Transpector-row">
        <button className="jp-Transpector-button" disabled={batch?.status === 'loading'} onClick={() => store.runBatch()}>
          Run all {prompts.length}
        </button>
        {batch?.status === 'loading' && <ProgressRow progress={progress} onCancel={id => store.cancel(id)} />}
      </div>
      {batch?.status === 'error' && <p className="jp-Transpector-errortext">{batch.message}</p>}
      {batch?.status === 'ready' && !batch.result.complete && <p className="jp-Transpector-dim">Cancelled: {rows.length} of {prompts.length} ran.</p>}
      {rows.length > 0 && <BatchTable rows={rows} prompts={prompts} active={active} onPick={i => store.selectPrompt(i)} />}
    </section>
  );
}

/** One row per prompt run: its tokens, mean loss and top next token; a click shows it. */
function BatchTable(props: { rows: BatchRow[]; prompts: string[]; active: number; onPick: (i: number) => void }): React.ReactElement {
  const { rows, prompts, active, onPick } = props;
  return (
    <table className="jp-Transpector-batch">
      <thead>
        <tr>
          <th scope="col">prompt</th>
          <th scope="col">tokens</th>
          <th scope="col">mean loss</th>
          <th scope="col">next token</th>
        </tr>
      </thead>
      <tbody>
        {rows.map((row, i) => {
          const index = prompts.indexOf(row.prompt);
          return (
            <tr key={i} aria-selected={index === active} data-prompt={row.prompt}>
              <td>
                <button className="jp-Transpector-linkbutton" disabled={index < 0} onClick={() => onPick(index)} title="Show this prompt on the canvas">
                  {row.prompt}
                </button>
              </td>
              <td>{row.n_tokens}</td>
              <td>{row.mean_loss.toFixed(3)}</td>
              <td>
                {showToken(row.top_token.token)} {percent(row.top_token.prob)}
              </td>
            </tr>
          );
        })}
      </tbody>
    </table>
  );
}

export const Prompts = memoCard(PromptsCard, 'state', 'tools');
