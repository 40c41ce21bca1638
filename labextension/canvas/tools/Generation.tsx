/**
 * Generation: text after the prompt (or one typed in), generated twice with one seed, without
 * the interventions (clean) and with them (steered), side by side. Tokens stream in as the
 * kernel's progress labels ("clean: ...", "steered: ..."); Stop ends the call and keeps the
 * text so far. Below, a steering intervention from the canvas: the mean difference of two
 * prompt lists at a node, times a scale, added at every position.
 */
import * as React from 'react';

import type { GeneratedText, Intervention } from '../../protocol.generated';
import { Column, streamed } from '../generation';
import { CanvasSnapshot, CanvasStore, activePrompt, toolAnswer } from '../store';
import { memoCard } from '../view/memo';

const KEY = 'generation';

function GenerationCard({ store, snap }: { store: CanvasStore; snap: CanvasSnapshot }): React.ReactElement {
  const [text, setText] = React.useState('');
  const [maxNew, setMaxNew] = React.useState(20);
  const [temperature, setTemperature] = React.useState(0);
  const [seed, setSeed] = React.useState(0);
  const [live, setLive] = React.useState<Record<Column, string>>({ clean: '', steered: '' });
  const answer = toolAnswer<'generation'>(snap, KEY);
  const running = answer?.status === 'loading';
  const label = running ? (answer.progress?.label ?? '') : '';
  React.useEffect(() => {
    const found = streamed(label);
    if (found !== null) {
      setLive(old => ({ ...old, [found[0]]: found[1] }));
    }
  }, [label]);
  const generate = (event: React.FormEvent): void => {
    event.preventDefault();
    setLive({ clean: '', steered: '' });
    store.runTool(KEY, 'generation', { text, max_new_tokens: maxNew, temperature, seed, compare: true });
  };
  const result = answer?.status === 'ready' ? answer.result : null;
  const shown = (column: Column): GeneratedText | null => (result === null ? null : column === 'clean' ? (result.clean ?? null) : result.steered);
  const steering = (snap.state?.interventions ?? []).length;
  const stop = (): void => {
    if (running && answer.progress) {
      store.cancel(answer.progress.taskId);
    }
  };
  return (
    <section className="jp-Transpector-card jp-Transpector-generation" aria-label="Generation">
      <h3>
        Generation <span className="jp-Transpector-dim">clean and with the {steering} intervention{steering === 1 ? '' : 's'}, one seed</span>
      </h3>
      <form className="jp-Transpector-row" onSubmit={generate} onKeyDown={e => e.stopPropagation()}>
        <input aria-label="Generation prompt" placeholder={activePrompt(snap.state)} value={text} spellCheck={false} onChange={e => setText(e.target.value)} />
        <NumberField label="Max new tokens" value={maxNew} min={1} max={4096} step={1} onChange={setMaxNew} />
        <NumberField label="Temperature" value={temperature} min={0} max={100} step={0.1} onChange={setTemperature} />
        <NumberField label="Seed" value={seed} min={0} max={2 ** 31} step={1} onChange={setSeed} />
        <button className="jp-Transpector-button" type="submit" disabled={running}>
          Generate
        </button>
        <button className="jp-Transpector-button" type="button" disabled={!running || !answer.progress} onClick={stop}>
          Stop
        </button>
        {running && <progress max={answer.progress?.total ?? 1} value={answer.progress?.done ?? 0} aria-label="Progress" />}
      </form>
      {answer?.status === 'error' && <p className="jp-Transpector-errortext">{answer.message}</p>}
      <div className="jp-Transpector-generation-columns">
        {(['clean', 'steered'] as Column[]).map(column => (
          <figure key={column}>
            <figcaption>
              {column}
              {shown(column) && <span className="jp-Transpector-dim"> · {shown(column)?.stopped}</span>}
            </figcaption>
            <pre data-column={column} data-done={result !== null ? 'true' : 'false'}>
              {shown(column)?.text ?? live[column]}
            </pre>
          </figure>
        ))}
      </div>
      <SteerForm store={store} />
    </section>
  );
}

function NumberField(props: { label: string; value: number; min: number; max: number; step: number; onChange: (v: number) => void }): React.ReactElement {
  return (
    <label className="jp-Transpector-field">
      {props.label.toLowerCase()}
      <input
        aria-label={props.label}
        type="number"
        min={props.min}
        max={props.max}
        step={props.step}
        value={props.value}
        onChange={e => props.onChange(Math.min(props.max, Math.max(props.min, Number(e.target.value) || 0)))}
      />
    </label>
  );
}

/** Add a mean-difference steering vector: node, scale, and the two prompt lists (one a line). */
function SteerForm({ store }: { store: CanvasStore }): React.ReactElement {
  const [node, setNode] = React.useState('L0.resid_pre');
  const [scale, setScale] = React.useState(4);
  const [positive, setPositive] = React.useState('');
  const [negative, setNegative] = React.useState('');
  const lines = (value: string): string[] => value.split('\n').filter(line => line.trim() !== '');
  const add = (event: React.FormEvent): void => {
    event.preventDefault();
    const intervention: Intervention = {
      kind: 'steer',
      id: '',
      node,
      positions: null,
      scale,
      source: { kind: 'mean_diff', positive: lines(positive), negative: lines(negative) }
    };
    store.addMany([intervention]);
  };
  return (
    <form className="jp-Transpector-steer" aria-label="Add steering" onSubmit={add} onKeyDown={e => e.stopPropagation()}>
      <div className="jp-Transpector-row">
        <label className="jp-Transpector-field">
          steer node
          <input aria-label="Steer node" value={node} spellCheck={false} onChange={e => setNode(e.target.value)} />
        </label>
        <label className="jp-Transpector-field">
          scale
          <input aria-label="Steer scale" type="number" step={0.5} value={scale} onChange={e => setScale(Number(e.target.value) || 0)} />
        </label>
        <button className="jp-Transpector-button" type="submit" disabled={!lines(positive).length || !lines(negative).length}>
          Add steering
        </button>
      </div>
      <div className="jp-Transpector-generation-columns">
        <textarea aria-label="Toward prompts" placeholder="toward: one prompt a line" value={positive} rows={4} onChange={e => setPositive(e.target.value)} />
        <textarea aria-label="Away prompts" placeholder="away from: one prompt a line" value={negative} rows={4} onChange={e => setNegative(e.target.value)} />
      </div>
    </form>
  );
}

export const Generation = memoCard(GenerationCard, 'state', 'tools');
