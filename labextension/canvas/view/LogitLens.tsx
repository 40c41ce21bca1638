/**
 * Logit lens: layers x positions, the top-1 token of each, shaded by its probability.
 */
import * as React from 'react';

import { percent, shade, showToken } from '../format';
import { CanvasSnapshot } from '../store';
import { selectedPosition } from './Tokens';

export function LogitLens({ snap, onSelect }: { snap: CanvasSnapshot; onSelect: (p: number | null) => void }): React.ReactElement | null {
  const run = snap.run;
  const lens = run?.logit_lens;
  if (!run || !lens) {
    return null;
  }
  const selected = selectedPosition(snap);
  return (
    <section className="jp-Transpector-card jp-Transpector-lens" aria-label="Logit lens">
      <h3>
        Logit lens <span className="jp-Transpector-dim">top-1 per layer and position</span>
      </h3>
      <div className="jp-Transpector-scroll-x">
        <table className="jp-Transpector-lens-grid">
          <thead>
            <tr>
              <th />
              {run.tokens.map((token, p) => (
                <th key={p} scope="col" aria-selected={p === selected}>
                  <button className="jp-Transpector-linkbutton" onClick={() => onSelect(p === run.tokens.length - 1 ? null : p)}>
                    {showToken(token)}
                  </button>
                </th>
              ))}
            </tr>
          </thead>
          <tbody>
            {lens.layers.map((layer, r) => (
              <tr key={layer}>
                <th scope="row">{layer}</th>
                {lens.tokens[r].map((token, p) => {
                  const prob = lens.probs[r][p];
                  return (
                    <td
                      key={p}
                      className="jp-Transpector-lens-cell"
                      data-prob={prob}
                      aria-selected={p === selected}
                      title={`${layer}, position ${p}: ${JSON.stringify(token)} ${percent(prob)}`}
                      style={{ ['--tp-shade' as string]: `${shade(prob)}%` }}
                    >
                      {showToken(token)}
                    </td>
                  );
                })}
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  );
}
