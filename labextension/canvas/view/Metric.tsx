/**
 * The session's metric at the last position: what it measures, its value on the clean run (no
 * interventions) and now, and a form to choose another. Tokens are typed as text and must be one
 * token each, with their leading space where the model's tokens have one (" Mary").
 */
import * as React from 'react';

import type { Metric, MetricValue } from '../../protocol.generated';
import { percent, signed } from '../format';
import { CanvasSnapshot, CanvasStore } from '../store';
import { memoCard } from './memo';

const KINDS: { kind: Metric['kind']; label: string }[] = [
  { kind: 'top_prob', label: 'probability of the clean top token' },
  { kind: 'logit_diff', label: 'logit difference of two tokens' },
  { kind: 'token_loss', label: 'loss on a token' }
];

function MetricCard({ store, snap }: { store: CanvasStore; snap: CanvasSnapshot }): React.ReactElement {
  const metric: Metric = snap.state?.metric ?? { kind: 'top_prob' };
  const value = snap.run?.metric;
  return (
    <section className="jp-Transpector-card jp-Transpector-metric" aria-label="Metric">
      <h3>
        Metric <span className="jp-Transpector-dim">at the last position</span>
      </h3>
      {value && <MetricLine value={value} />}
      <MetricForm key={JSON.stringify(metric)} metric={metric} onSet={m => store.setMetric(m)} />
    </section>
  );
}

/** "label: clean → now (change)"; probabilities as percentages, logits and losses as numbers. */
function MetricLine({ value }: { value: MetricValue }): React.ReactElement {
  const show = (x: number): string => (value.spec.kind === 'top_prob' ? percent(x) : x.toFixed(3));
  const change = value.value - value.clean;
  const changeText = value.spec.kind === 'top_prob' ? `${signed(change * 100, 1)} pts` : signed(change, 3);
  return (
    <p className="jp-Transpector-metric-value" data-value={value.value} data-clean={value.clean}>
      <span className="jp-Transpector-metric-label">{value.label}</span>
      <span title="Clean run (no interventions)">{show(value.clean)}</span>
      <span aria-hidden="true">→</span>
      <strong title="With the interventions">{show(value.value)}</strong>
      {Math.abs(change) > 0 && (
        <span className="jp-Transpector-delta" data-sign={change > 0 ? 'up' : 'down'}>
          {changeText}
        </span>
      )}
    </p>
  );
}

/** The choice of metric; the form starts from the session's (it is remounted when that changes). */
function MetricForm({ metric, onSet }: { metric: Metric; onSet: (metric: Metric) => void }): React.ReactElement {
  const [kind, setKind] = React.useState<Metric['kind']>(metric.kind);
  const [first, setFirst] = React.useState(metric.kind === 'logit_diff' ? metric.correct : metric.kind === 'token_loss' ? metric.token : '');
  const [second, setSecond] = React.useState(metric.kind === 'logit_diff' ? metric.wrong : '');
  const chosen: Metric | null =
    kind === 'top_prob'
      ? { kind }
      : kind === 'logit_diff'
        ? first && second
          ? { kind, correct: first, wrong: second }
          : null
        : first
          ? { kind, token: first }
          : null;
  const submit = (event: React.FormEvent): void => {
    event.preventDefault();
    if (chosen) {
      onSet(chosen);
    }
  };
  return (
    <form className="jp-Transpector-row jp-Transpector-metric-form" onSubmit={submit} onKeyDown={event => event.stopPropagation()}>
      <select aria-label="Metric" value={kind} onChange={event => setKind(event.target.value as Metric['kind'])}>
        {KINDS.map(k => (
          <option key={k.kind} value={k.kind}>
            {k.label}
          </option>
        ))}
      </select>
      {kind !== 'top_prob' && (
        <input
          aria-label={kind === 'logit_diff' ? 'Correct token' : 'Token'}
          placeholder={kind === 'logit_diff' ? 'correct, e.g. " Mary"' : 'token, e.g. " Paris"'}
          value={first}
          spellCheck={false}
          onChange={event => setFirst(event.target.value)}
        />
      )}
      {kind === 'logit_diff' && (
        <input aria-label="Wrong token" placeholder='wrong, e.g. " John"' value={second} spellCheck={false} onChange={event => setSecond(event.target.value)} />
      )}
      <button className="jp-Transpector-button" type="submit" disabled={!chosen}>
        Set metric
      </button>
    </form>
  );
}

export const MetricView = memoCard(MetricCard, 'run', 'state');
