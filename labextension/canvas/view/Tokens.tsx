/**
 * Token chips with their ids; a click picks the position whose next-token top-k is shown.
 * Hovering (or focusing) a chip tints the others by the chosen head's attention: the chip as
 * query (where it looks) or as key (who looks at it). The chip after the last token is the
 * model's top prediction. Invisible characters show as escapes (\u200b), and a token that is only
 * part of a UTF-8 character as its bytes (<0xF0>), as the kernel sends it.
 */
import * as React from 'react';

import { attentionTint } from '../attention';
import { percent, quoteToken, shade, showToken } from '../format';
import { CanvasSnapshot, CanvasStore, nodeDataKey } from '../store';
import { memoCard } from './memo';

export function selectedPosition(snap: CanvasSnapshot): number {
  const n = snap.run?.tokens.length ?? 0;
  const chosen = snap.view.selectedPosition;
  return chosen !== null && chosen < n ? chosen : n - 1;
}

function TokensCard({ store, snap }: { store: CanvasStore; snap: CanvasSnapshot }): React.ReactElement {
  const [hovered, setHovered] = React.useState<number | null>(null);
  const run = snap.run;
  if (!run) {
    return <div className="jp-Transpector-tokens jp-Transpector-dim">Running…</div>;
  }
  const selected = selectedPosition(snap);
  const next = run.top_k[run.top_k.length - 1]?.[0];
  const { layer, head, direction } = snap.view.attention;
  const data = snap.nodeData[nodeDataKey(`L${layer}.H${head}`, 'pattern')];
  const n = run.tokens.length;
  const tint =
    hovered !== null && data?.status === 'ready' && data.version === run.version && data.shape.join() === `${n},${n}`
      ? attentionTint(data.values, n, hovered, direction)
      : [];
  const hover = (i: number | null): void => {
    setHovered(i);
    if (i !== null) {
      store.watchAttention();
    }
  };
  return (
    <div className="jp-Transpector-tokenbar">
      <div className="jp-Transpector-tokens" role="group" aria-label="Tokens" onMouseLeave={() => hover(null)}>
        {run.tokens.map((token, i) => {
          const weight = tint[i];
          const tinted = weight !== undefined && i !== hovered;
          return (
            <button
              key={i}
              className="jp-Transpector-token"
              data-position={i}
              data-id={run.token_ids[i]}
              data-token={token}
              data-hovered={i === hovered}
              data-attention={tinted ? weight.toFixed(4) : undefined}
              style={tinted ? { ['--tp-attn' as string]: `${shade(weight)}%` } : undefined}
              aria-pressed={i === selected}
              title={`position ${i} · id ${run.token_ids[i]} · ${quoteToken(token)}${tinted ? ` · attention ${percent(weight)}` : ''}`}
              onClick={() => store.selectPosition(i === n - 1 ? null : i)}
              onMouseEnter={() => hover(i)}
              onFocus={() => hover(i)}
              onBlur={() => hover(null)}
            >
              <span className="jp-Transpector-token-text">{showToken(token)}</span>
              <span className="jp-Transpector-token-id">{run.token_ids[i]}</span>
            </button>
          );
        })}
        {next && (
          <span className="jp-Transpector-next" title="The model's most likely next token" data-token={next.token}>
            → <span className="jp-Transpector-token-text">{showToken(next.token)}</span> {percent(next.prob)}
          </span>
        )}
      </div>
      <AttentionPicker store={store} snap={snap} />
    </div>
  );
}

/** Which head's attention tints the tokens, and which way it is read. */
function AttentionPicker({ store, snap }: { store: CanvasStore; snap: CanvasSnapshot }): React.ReactElement | null {
  const graph = snap.graph;
  if (!graph || graph.n_heads === 0) {
    return null;
  }
  const { layer, head, direction } = snap.view.attention;
  const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);
  return (
    <div className="jp-Transpector-attnpicker" role="group" aria-label="Attention shown on hover">
      <span className="jp-Transpector-dim">Hover tint:</span>
      <select aria-label="Layer" value={layer} onChange={e => store.setAttention({ layer: Number(e.target.value) })}>
        {range(graph.n_layers).map(l => (
          <option key={l} value={l}>
            L{l}
          </option>
        ))}
      </select>
      <select aria-label="Head" value={head} onChange={e => store.setAttention({ head: Number(e.target.value) })}>
        {range(graph.n_heads).map(h => (
          <option key={h} value={h}>
            H{h}
          </option>
        ))}
      </select>
      {(['query', 'key'] as const).map(d => (
        <button
          key={d}
          className="jp-Transpector-button"
          aria-pressed={direction === d}
          title={d === 'query' ? 'The hovered token as query: where it looks' : 'The hovered token as key: which tokens look at it'}
          onClick={() => store.setAttention({ direction: d })}
        >
          {d === 'query' ? 'query → key' : 'key ← query'}
        </button>
      ))}
    </div>
  );
}

export const Tokens = memoCard(TokensCard, 'run', 'view', 'nodeData', 'graph');
