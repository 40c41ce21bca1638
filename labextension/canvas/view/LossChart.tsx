/**
 * Per-token loss as a bar chart: bar i is the loss of predicting token i+1 after token i.
 */
import * as React from 'react';

import { CanvasSnapshot } from '../store';
import { Bars } from './Bars';
import { memoCard } from './memo';

function LossChartCard({ snap, onSelect }: { snap: CanvasSnapshot; onSelect: (p: number) => void }): React.ReactElement | null {
  const run = snap.run;
  if (!run) {
    return null;
  }
  const losses = run.loss;
  const mean = losses.length > 0 ? losses.reduce((a, b) => a + b, 0) / losses.length : 0;
  return (
    <section className="jp-Transpector-card jp-Transpector-loss" aria-label="Per-token loss">
      <h3>
        Loss per token <span className="jp-Transpector-dim">mean {mean.toFixed(2)} nats</span>
      </h3>
      {losses.length === 0 ? (
        <p className="jp-Transpector-dim">One token: nothing to predict yet.</p>
      ) : (
        <Bars
          values={losses}
          labels={run.tokens.slice(1)}
          label="Loss per token"
          describe={i => `${JSON.stringify(run.tokens[i + 1])} after ${JSON.stringify(run.tokens[i])}: ${losses[i].toFixed(3)} nats`}
          onSelect={onSelect}
        />
      )}
    </section>
  );
}

export const LossChart = memoCard(LossChartCard, 'run');
