/**
 * Causal tracing (Meng et al. 2022) of the canvas's prompt: noise on the subject's token
 * embeddings, then the clean state restored at one (layer, position) at a time, for the residual
 * stream and for MLP and attention outputs over a window of layers. Three heatmaps of the
 * answer's probability, coloured from the noised run (0) to the clean one (1).
 */
import * as React from 'react';

import type { TracingResult } from '../../protocol.generated';
import { percent } from '../format';
import { CanvasSnapshot, CanvasStore, TRACING_KEY, activePrompt, toolAnswer } from '../store';
import { TRACE_TITLES, traceGrid } from '../tracingGrid';
import { memoCard } from '../view/memo';
import { ProgressRow } from '../view/Progress';
import { SweepHeatmap } from '../view/SweepHeatmap';

function CausalTracingCard({ store, snap }: { store: CanvasStore; snap: CanvasSnapshot }): React.ReactElement {
  const [subject, setSubject] = React.useState('');
  const [answer, setAnswer] = React.useState('');
  const [samples, setSamples] = React.useState(3);
  const trace = toolAnswer<'causal_tracing'>(snap, TRACING_KEY);
  const running = trace?.status === 'loading';
  const prompt = activePrompt(snap.state);
  const run = (event: React.FormEvent): void => {
    event.preventDefault();
    store.runTool(TRACING_KEY, 'causal_tracing', { text: prompt, subject, answer: answer || null, samples });
  };
  return (
    <section className="jp-Transpector-card jp-Transpector-tracing" aria-label="Causal tracing">
      <h3>
        Causal tracing <span className="jp-Transpector-dim">noise on the subject, restore one state at a time</span>
      </h3>
      <form className="jp-Transpector-row jp-Transpector-metric-form" onSubmit={run} onKeyDown={e => e.stopPropagation()}>
        <input aria-label="Subject" placeholder={`subject, a part of "${prompt.slice(0, 24)}"`} value={subject} spellCheck={false} onChange={e => setSubject(e.target.value)} />
        <input aria-label="Answer" placeholder="answer (default: top token)" value={answer} spellCheck={false} onChange={e => setAnswer(e.target.value)} />
        <label className="jp-Transpector-field">
          samples
          <input aria-label="Samples" type="number" min={1} max={50} value={samples} onChange={e => setSamples(Math.max(1, Number(e.target.value) || 1))} />
        </label>
        <button className="jp-Transpector-button" type="submit" disabled={running || !subject}>
          Trace
        </button>
        {running && <ProgressRow progress={trace.progress} onCancel={id => store.cancel(id)} />}
      </form>
      {trace?.status === 'error' && <p className="jp-Transpector-errortext">{trace.message}</p>}
      {trace?.status === 'ready' && <TraceResult result={trace.result} />}
    </section>
  );
}

function TraceResult({ result }: { result: TracingResult }): React.ReactElement {
  return (
    <div className="jp-Transpector-trace" data-answer={result.answer}>
      <p className="jp-Transpector-dim">
        p({JSON.stringify(result.answer)}): clean {percent(result.clean_prob)}, noised {percent(result.corrupted_prob)} · {result.samples} sample
        {result.samples === 1 ? '' : 's'}, seed {result.seed}; * marks the noised subject
        {result.note ? ` · ${result.note}` : ''}
      </p>
      <div className="jp-Transpector-trace-grids">
        {result.traces.map(t => (
          <figure key={t.kind} data-kind={t.kind}>
            <figcaption>{TRACE_TITLES[t.kind]}</figcaption>
            <SweepHeatmap grid={traceGrid(result, t)} label={`Causal trace, ${TRACE_TITLES[t.kind]}`} rawLabel="p" />
          </figure>
        ))}
      </div>
    </div>
  );
}

export const CausalTracing = memoCard(CausalTracingCard, 'state', 'tools');
