/**
 * Saved run: what a trace saved (`session.trace(..., remote=True)` on NDIF, or here), shown by
 * `session.show_saved(saved)` from a cell. Not the live model: its tokens, its next-token top-k
 * from the saved logits, its logit lens (the saved residuals read through the live model's final
 * norm and unembedding when it was shown) and one head's saved attention pattern at a time,
 * asked of the kernel. The state names the run; a new one replaces it.
 */
import * as React from 'react';

import type { LogitLens as LensData, SavedRun as SavedRunData } from '../../protocol.generated';
import { percent, shade, showToken } from '../format';
import { CanvasSnapshot, CanvasStore, toolAnswer } from '../store';
import { Heatmap } from '../view/Heatmap';
import { TokenProbList } from '../view/TopK';
import { memoCard } from '../view/memo';
import { useScrolledToEnd } from '../view/scrolledToEnd';

const RUN_KEY = 'saved_run';
const ATTENTION_KEY = 'saved_run_attention';

function SavedRunCard({ store, snap }: { store: CanvasStore; snap: CanvasSnapshot }): React.ReactElement {
  const info = snap.state?.saved_run ?? null;
  const answer = toolAnswer<'saved_run'>(snap, RUN_KEY);
  const id = info?.id ?? null;
  React.useEffect(() => {
    store.watchTool(RUN_KEY, 'saved_run', id === null ? null : {});
  }, [id]);
  const run = answer?.status === 'ready' && answer.result.run?.id === id ? answer.result.run : null;
  return (
    <section className="jp-Transpector-card jp-Transpector-saved" aria-label="Saved run" data-saved-id={run?.id}>
      <h3>
        Saved run{' '}
        {info && (
          <span className="jp-Transpector-saved-badge" title="Values a trace saved, read when session.show_saved ran">
            {info.name} · saved values, not the live model
          </span>
        )}
      </h3>
      {info === null && (
        <p className="jp-Transpector-dim">
          No saved run: <code>session.show_saved(saved)</code> after a trace (<code>saved = tr.save_for_canvas()</code> inside it).
        </p>
      )}
      {info && answer?.status === 'error' && <p className="jp-Transpector-errortext">{answer.message}</p>}
      {info && !run && answer?.status !== 'error' && <p className="jp-Transpector-dim">Reading the saved run…</p>}
      {run && <SavedRunBody store={store} snap={snap} run={run} />}
    </section>
  );
}

function SavedRunBody({ store, snap, run }: { store: CanvasStore; snap: CanvasSnapshot; run: SavedRunData }): React.ReactElement {
  const last = run.tokens.length - 1;
  const topK = run.top_k ?? [];
  const notShown = run.not_shown ?? [];
  return (
    <>
      <p className="jp-Transpector-saved-tokens" aria-label="Saved tokens">
        {run.tokens.map((token, i) => (
          <span key={i} className="jp-Transpector-saved-token" data-position={i} data-id={run.token_ids[i]}>
            {showToken(token)}
          </span>
        ))}
      </p>
      {topK.length > 0 && (
        <div aria-label="Saved next token">
          <h4>Next token after position {last}</h4>
          <TokenProbList rows={topK} itemClass="jp-Transpector-saved-topk-item" />
        </div>
      )}
      {run.lens && (
        <div aria-label="Saved logit lens">
          <h4>Logit lens <span className="jp-Transpector-dim">top-1 of each saved residual through this model's final norm and unembedding</span></h4>
          <SavedLensGrid tokens={run.tokens} lens={run.lens} />
        </div>
      )}
      {run.attention_layers.length > 0 && <SavedAttention store={store} snap={snap} run={run} />}
      {notShown.length > 0 && <p className="jp-Transpector-dim">Also saved, not drawn here: {notShown.join(', ')}</p>}
    </>
  );
}

/** The lens grid as the Logit lens card draws it (its table, shading in 5% steps), read-only. */
function SavedLensGrid({ tokens, lens }: { tokens: string[]; lens: LensData }): React.ReactElement {
  // It opens at its last position, where the prediction is (as the Logit lens card does).
  const scroller = useScrolledToEnd(lens);
  return (
    <div className="jp-Transpector-scroll-x" ref={scroller}>
      <table className="jp-Transpector-lens-grid">
        <thead>
          <tr>
            <th />
            {lens.positions.map(p => (
              <th key={p} scope="col">
                {showToken(tokens[p] ?? '')}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {lens.layers.map((row, r) => (
            <tr key={row}>
              <th scope="row">{row}</th>
              {lens.tokens[r].map((token, i) => (
                <td key={lens.positions[i]}>
                  <span
                    className="jp-Transpector-saved-cell"
                    data-layer={row}
                    data-position={lens.positions[i]}
                    data-id={lens.token_ids[r][i]}
                    data-prob={lens.probs[r][i]}
                    title={`${row}, position ${lens.positions[i]}: ${JSON.stringify(token)} ${percent(lens.probs[r][i])}`}
                    style={{ ['--tp-shade' as string]: `${shade(lens.probs[r][i], 5)}%` }}
                  >
                    {showToken(token)}
                  </span>
                </td>
              ))}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

/** One head's saved pattern, chosen by layer and head, drawn by the graph's own heatmap. */
function SavedAttention({ store, snap, run }: { store: CanvasStore; snap: CanvasSnapshot; run: SavedRunData }): React.ReactElement {
  const [layer, setLayer] = React.useState(run.attention_layers[0]);
  const [head, setHead] = React.useState(0);
  const shown = run.attention_layers.includes(layer) ? layer : run.attention_layers[0];
  React.useEffect(() => {
    store.watchTool(ATTENTION_KEY, 'saved_run', { layer: shown, head });
    return () => store.watchTool(ATTENTION_KEY, 'saved_run', null);
  }, [run.id, shown, head]);
  const answer = toolAnswer<'saved_run'>(snap, ATTENTION_KEY);
  const got = answer?.status === 'ready' ? answer.result.attention : null;
  const pattern = got && got.layer === shown && got.head === head && answer?.status === 'ready' && answer.result.run?.id === run.id ? got.pattern : null;
  const values = React.useMemo(() => (pattern ? Float32Array.from(pattern.flat()) : null), [pattern]);
  const n = run.tokens.length;
  return (
    <div aria-label="Saved attention">
      <h4 className="jp-Transpector-row">
        Attention{' '}
        <select aria-label="Saved attention layer" value={shown} onChange={e => setLayer(Number(e.target.value))}>
          {run.attention_layers.map(l => (
            <option key={l} value={l}>
              layer {l}
            </option>
          ))}
        </select>
        <select aria-label="Saved attention head" value={head} onChange={e => setHead(Number(e.target.value))}>
          {Array.from({ length: run.n_heads }, (_, h) => (
            <option key={h} value={h}>
              head {h}
            </option>
          ))}
        </select>
      </h4>
      {answer?.status === 'error' && <p className="jp-Transpector-errortext">{answer.message}</p>}
      {values ? (
        <div className="jp-Transpector-scroll-x" data-layer={shown} data-head={head}>
          <Heatmap values={values} rows={n} cols={n} tokens={run.tokens} title={`saved L${shown}.H${head} attention`} />
        </div>
      ) : (
        answer?.status !== 'error' && <p className="jp-Transpector-dim">Fetching L{shown}.H{head}…</p>
      )}
    </div>
  );
}

export const SavedRun = memoCard(SavedRunCard, 'state', 'tools');
