/**
 * Neurons: an MLP node's neurons ranked by their largest activation on the prompt (the selected
 * MLP node, or one typed in), and one neuron's view: its activation over the prompt's tokens as
 * coloured text, its top activating windows of the dataset (the max token marked), the
 * histogram of its activations over the dataset, and the tokens it raises and lowers most
 * through the unembedding. The first view of a layer scans the dataset (progress, Cancel);
 * later ones come from the kernel's disk cache. Zero-ablate adds the neuron's ablation to the
 * state (Restore removes it) and asks for the view again: the prompt row shows it.
 */
import * as React from 'react';

import type { MlpNeuronsResult, NeuronContext, NeuronHistogram, NeuronViewResult, TokenValue } from '../../protocol.generated';
import { quoteToken, shade, showToken } from '../format';
import { CanvasSnapshot, CanvasStore, toolAnswer } from '../store';
import { memoCard } from '../view/memo';
import { ProgressRow } from '../view/Progress';

const RANK_KEY = 'mlp_neurons';
const VIEW_KEY = 'neuron_view';
const RANKED = 20;
const CONTEXTS = 8;
const MLP = /^(L\d+\.mlp)(\.N\d+)?$/;

function NeuronsCard({ store, snap }: { store: CanvasStore; snap: CanvasSnapshot }): React.ReactElement {
  const picked = MLP.exec(snap.view.selectedNode ?? '')?.[1] ?? null;
  const [node, setNode] = React.useState(picked ?? 'L0.mlp');
  React.useEffect(() => {
    if (picked !== null) {
      setNode(picked);
    }
  }, [picked]);
  const ranked = toolAnswer<'mlp_neurons'>(snap, RANK_KEY);
  const view = toolAnswer<'neuron_view'>(snap, VIEW_KEY);
  const scanning = view?.status === 'loading';
  const rank = (): void => store.runTool(RANK_KEY, 'mlp_neurons', { node, k: RANKED });
  const open = (neuron: string): void => store.runTool(VIEW_KEY, 'neuron_view', { neuron, k: CONTEXTS });
  return (
    <section className="jp-Transpector-card jp-Transpector-neurons" aria-label="Neurons">
      <h3>
        Neurons <span className="jp-Transpector-dim">an MLP&apos;s neurons on this prompt, and one neuron over the dataset</span>
      </h3>
      <div className="jp-Transpector-row">
        <label className="jp-Transpector-field">
          MLP
          <input
            aria-label="MLP node"
            value={node}
            title="An MLP node, L{layer}.mlp (selecting one on the graph fills it in)"
            onChange={e => setNode(e.target.value)}
            onKeyDown={e => e.key === 'Enter' && rank()}
          />
        </label>
        <button className="jp-Transpector-button" onClick={rank}>
          Rank
        </button>
        {scanning && <ProgressRow progress={view.progress} onCancel={id => store.cancel(id)} />}
      </div>
      {ranked?.status === 'error' && <p className="jp-Transpector-errortext">{ranked.message}</p>}
      {ranked?.status === 'ready' && <Ranked result={ranked.result} shown={view?.status === 'ready' ? view.result.neuron : null} onOpen={open} />}
      {view?.status === 'error' && <p className="jp-Transpector-errortext">{view.message}</p>}
      {view?.status === 'ready' && (
        <NeuronView
          result={view.result}
          ablated={(snap.state?.interventions ?? []).some(i => i.node === view.result.neuron && i.kind === 'ablate' && i.method === 'zero' && !i.positions)}
          onAblate={() => {
            store.toggleAblation(view.result.neuron);
            open(view.result.neuron); // sent after the change: the prompt row shows it
          }}
        />
      )}
    </section>
  );
}

function Ranked(props: { result: MlpNeuronsResult; shown: string | null; onOpen: (neuron: string) => void }): React.ReactElement {
  const { result, shown, onOpen } = props;
  const top = Math.max(...result.neurons.map(n => Math.abs(n.value)), 1e-9);
  return (
    <ol className="jp-Transpector-neuron-list" aria-label="Ranked neurons" data-node={result.node}>
      {result.neurons.map(n => (
        <li key={n.index} data-neuron={n.neuron} data-value={n.value} data-position={n.position}>
          <button
            className="jp-Transpector-neuron-pick"
            data-selected={n.neuron === shown}
            title={`${n.neuron}: ${n.value.toFixed(3)} at ${quoteToken(result.tokens[n.position] ?? '')} (position ${n.position})`}
            onClick={() => onOpen(n.neuron)}
          >
            <span className="jp-Transpector-neuron-bar" style={{ width: `${shade(n.value / top)}%` }} />
            <span>N{n.index}</span> <span className="jp-Transpector-dim">{n.value.toFixed(2)}</span>
          </button>
        </li>
      ))}
    </ol>
  );
}

function NeuronView(props: { result: NeuronViewResult; ablated: boolean; onAblate: () => void }): React.ReactElement {
  const { result, ablated, onAblate } = props;
  const scale = Math.max(...result.contexts.map(c => c.max_value), ...result.acts, 1e-9);
  return (
    <div className="jp-Transpector-neuron-view" data-neuron={result.neuron}>
      <p>
        <strong>{result.neuron}</strong>{' '}
        <button className="jp-Transpector-button" onClick={onAblate} title="An intervention like any other: in the state and in session.code()">
          {ablated ? 'Restore' : 'Zero-ablate'}
        </button>{' '}
        <span className="jp-Transpector-dim">
          {result.hook} · {result.dataset.name}, {result.dataset.n_windows} windows of {result.dataset.window} tokens
        </span>
      </p>
      <h4>On this prompt</h4>
      <Tokens tokens={result.tokens} acts={result.acts} scale={scale} label="Prompt activations" />
      <h4>Top windows</h4>
      <ol className="jp-Transpector-neuron-contexts" aria-label="Top windows">
        {result.contexts.map(c => (
          <Context key={c.window} context={c} scale={scale} />
        ))}
      </ol>
      <h4>Activations over the dataset</h4>
      <Histogram histogram={result.histogram} />
      <h4>Logit effects</h4>
      <div className="jp-Transpector-neuron-logits">
        <Effects label="Raises" tokens={result.top_logits} />
        <Effects label="Lowers" tokens={result.bottom_logits} />
      </div>
    </div>
  );
}

export function Tokens(props: { tokens: string[]; acts: number[]; scale: number; label: string; mark?: number }): React.ReactElement {
  const { tokens, acts, scale, label, mark } = props;
  return (
    <p className="jp-Transpector-neuron-tokens" aria-label={label}>
      {tokens.map((token, i) => (
        <span
          key={i}
          className={i === mark ? 'jp-Transpector-neuron-max' : undefined}
          data-act={acts[i]}
          data-sign={acts[i] < 0 ? 'neg' : 'pos'}
          title={`${quoteToken(token)}: ${acts[i].toFixed(3)}`}
          style={{ ['--tp-shade' as string]: `${shade(Math.abs(acts[i]) / scale, 5)}%` }}
        >
          {token.replace(/\n/g, '\u21b5')}
        </span>
      ))}
    </p>
  );
}

export function Context({ context, scale }: { context: NeuronContext; scale: number }): React.ReactElement {
  return (
    <li data-window={context.window} data-max-position={context.max_position} data-max={context.max_value}>
      <div>
        <span className="jp-Transpector-dim" title={`window ${context.window}: its largest activation`}>
          {context.max_value.toFixed(2)}
        </span>
        <Tokens tokens={context.tokens} acts={context.acts} scale={scale} label={`Window ${context.window}`} mark={context.max_position} />
      </div>
    </li>
  );
}

export function Histogram({ histogram }: { histogram: NeuronHistogram }): React.ReactElement {
  const { counts, lo, width } = histogram;
  const top = Math.max(...counts, 1);
  const w = 320;
  const h = 64;
  const bar = w / Math.max(counts.length, 1);
  const zero = lo < 0 && lo + width * counts.length > 0 ? ((0 - lo) / (width * counts.length)) * w : null;
  return (
    <figure className="jp-Transpector-neuron-hist" data-bins={counts.length}>
      <svg width={w} height={h + 14} role="img" aria-label="Activation histogram">
        {counts.map((c, i) => (
          <rect key={i} x={i * bar} y={h - (c / top) * h} width={Math.max(bar - 1, 1)} height={(c / top) * h} data-count={c} data-lo={lo + i * width}>
            <title>{`${(lo + i * width).toFixed(3)} to ${(lo + (i + 1) * width).toFixed(3)}: ${c}`}</title>
          </rect>
        ))}
        {zero !== null && <line x1={zero} x2={zero} y1={0} y2={h} className="jp-Transpector-neuron-zero" />}
        <text x={0} y={h + 12}>
          {lo.toFixed(2)}
        </text>
        <text x={w} y={h + 12} textAnchor="end">
          {(lo + width * counts.length).toFixed(2)}
        </text>
      </svg>
      <figcaption className="jp-Transpector-dim">
        above zero on {(histogram.density * 100).toFixed(1)}% of tokens
        {histogram.below + histogram.above > 0 && ` · ${histogram.below + histogram.above} outside the layer's bins`}
      </figcaption>
    </figure>
  );
}

export function Effects({ label, tokens }: { label: string; tokens: TokenValue[] }): React.ReactElement {
  return (
    <div>
      <span className="jp-Transpector-dim">{label}</span>
      <ol aria-label={`${label} logits`}>
        {tokens.map(t => (
          <li key={t.id} data-id={t.id} data-value={t.value}>
            <code title={quoteToken(t.token)}>{showToken(t.token)}</code> <span className="jp-Transpector-dim">{t.value.toFixed(3)}</span>
          </li>
        ))}
      </ol>
    </div>
  );
}

export const Neurons = memoCard(NeuronsCard, 'tools', 'view');
