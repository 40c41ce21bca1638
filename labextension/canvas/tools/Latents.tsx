/**
 * Latents: the selected MLP or residual node through the sparse autoencoder loaded for its hook
 * (seed 002's "Use MLP autoencoder"). "Use autoencoder" is on offer when the kernel has one
 * (`session.load_sae`); it lists the latents active on the prompt, and a click opens a latent's
 * dashboard, drawn by the Neurons card's own pieces: its activation over the prompt's tokens, its
 * top windows of the dataset, its histogram, and the tokens its decoder row raises and lowers.
 * Ablate and Steer add `latent` interventions to the state (in session.code() like any other).
 */
import * as React from 'react';

import type { Intervention, LatentsResult } from '../../protocol.generated';
import { quoteToken, shade } from '../format';
import { CanvasSnapshot, CanvasStore, toolAnswer } from '../store';
import { memoCard } from '../view/memo';
import { ProgressRow } from '../view/Progress';
import { Context, Effects, Histogram, Tokens } from './Neurons';

const RANK_KEY = 'latents';
const VIEW_KEY = 'latent_view';
const RANKED = 20;
const CONTEXTS = 8;
const STEER = 4;
const NODE = /^L\d+\.(mlp|resid_pre|resid_mid|resid_post)$/;

function LatentsCard({ store, snap }: { store: CanvasStore; snap: CanvasSnapshot }): React.ReactElement {
  const selected = snap.view.selectedNode ?? '';
  const node = NODE.test(selected) ? selected : null;
  const [use, setUse] = React.useState(false);
  const ranked = toolAnswer<'latents'>(snap, RANK_KEY);
  const view = toolAnswer<'latents'>(snap, VIEW_KEY);
  const version = snap.state?.version;
  React.useEffect(() => {
    if (node !== null) {
      store.runTool(RANK_KEY, 'latents', { node, k: RANKED });
    }
  }, [node, version]);
  const loaded = ranked?.status === 'ready' && ranked.result.node === node && ranked.result.loaded;
  const open = (latent: number): void => {
    if (node !== null) {
      store.runTool(VIEW_KEY, 'latents', { node, k: RANKED, latent, contexts: CONTEXTS });
    }
  };
  const edits = (snap.state?.interventions ?? []).filter(i => i.kind === 'latent' && i.node === node);
  const toggle = (latent: number, action: 'ablate' | 'steer'): void => {
    const existing = edits.find(i => i.kind === 'latent' && i.latent === latent && (i.action ?? 'ablate') === action);
    if (existing?.id) {
      store.send({ op: 'remove_intervention', id: existing.id });
    } else if (node !== null) {
      const intervention: Intervention = { kind: 'latent', node, latent, action, scale: action === 'steer' ? STEER : 0, id: '', positions: null };
      store.send({ op: 'add_intervention', intervention });
    }
    open(latent); // asked after the change: the prompt row shows it
  };
  const shown = view?.status === 'ready' ? view.result.view : null;
  return (
    <section className="jp-Transpector-card jp-Transpector-latents" aria-label="Latents">
      <h3>
        Latents <span className="jp-Transpector-dim">a node through its sparse autoencoder</span>
      </h3>
      {node === null && <p className="jp-Transpector-dim">Select an MLP or residual node on the graph.</p>}
      {node !== null && (
        <div className="jp-Transpector-row">
          <label className="jp-Transpector-field" title={loaded ? 'List the autoencoder latents instead of neurons' : 'No autoencoder loaded for this node: session.load_sae(...)'}>
            <input type="checkbox" aria-label="Use autoencoder" checked={use && loaded} disabled={!loaded} onChange={e => setUse(e.target.checked)} />
            Use autoencoder
          </label>
          <span className="jp-Transpector-dim">
            {node} · {ranked?.status === 'ready' ? (loaded ? `${ranked.result.hook}, ${ranked.result.d_sae} latents (${ranked.result.architecture})` : `none loaded for ${ranked.result.hook}`) : ''}
          </span>
          {view?.status === 'loading' && <ProgressRow progress={view.progress} onCancel={id => store.cancel(id)} />}
        </div>
      )}
      {ranked?.status === 'error' && <p className="jp-Transpector-errortext">{ranked.message}</p>}
      {use && loaded && ranked?.status === 'ready' && <Ranked result={ranked.result} shown={shown?.latent ?? null} onOpen={open} />}
      {view?.status === 'error' && <p className="jp-Transpector-errortext">{view.message}</p>}
      {use && loaded && view?.status === 'ready' && shown && view.result.node === node && (
        <div className="jp-Transpector-neuron-view jp-Transpector-latent-view" data-latent={shown.latent}>
          <p>
            <strong>latent {shown.latent}</strong>{' '}
            <button className="jp-Transpector-button" onClick={() => toggle(shown.latent, 'ablate')} title="A latent intervention: in the state and in session.code()">
              {edits.some(i => i.kind === 'latent' && i.latent === shown.latent && (i.action ?? 'ablate') === 'ablate') ? 'Restore' : 'Ablate'}
            </button>{' '}
            <button className="jp-Transpector-button" onClick={() => toggle(shown.latent, 'steer')} title={`Add ${STEER} to the latent at every position`}>
              {edits.some(i => i.kind === 'latent' && i.latent === shown.latent && i.action === 'steer') ? 'Unsteer' : `Steer +${STEER}`}
            </button>{' '}
            <span className="jp-Transpector-dim">
              {view.result.hook} · {shown.dataset.name}, {shown.dataset.n_windows} windows of {shown.dataset.window} tokens
            </span>
          </p>
          <h4>On this prompt</h4>
          <Tokens tokens={view.result.tokens} acts={shown.acts} scale={Math.max(...shown.contexts.map(c => c.max_value), ...shown.acts, 1e-9)} label="Prompt activations" />
          <h4>Top windows</h4>
          <ol className="jp-Transpector-neuron-contexts" aria-label="Top windows">
            {shown.contexts.map(c => (
              <Context key={c.window} context={c} scale={Math.max(...shown.contexts.map(x => x.max_value), 1e-9)} />
            ))}
          </ol>
          <h4>Activations over the dataset</h4>
          <Histogram histogram={shown.histogram} />
          <h4>Logit effects</h4>
          <div className="jp-Transpector-neuron-logits">
            <Effects label="Raises" tokens={shown.top_logits} />
            <Effects label="Lowers" tokens={shown.bottom_logits} />
          </div>
        </div>
      )}
    </section>
  );
}

function Ranked(props: { result: LatentsResult; shown: number | null; onOpen: (latent: number) => void }): React.ReactElement {
  const { result, shown, onOpen } = props;
  const top = Math.max(...result.latents.map(l => Math.abs(l.value)), 1e-9);
  return (
    <ol className="jp-Transpector-neuron-list" aria-label="Active latents" data-node={result.node}>
      {result.latents.map(l => (
        <li key={l.latent} data-latent={l.latent} data-value={l.value} data-position={l.position}>
          <button
            className="jp-Transpector-neuron-pick"
            data-selected={l.latent === shown}
            title={`latent ${l.latent}: ${l.value.toFixed(3)} at ${quoteToken(result.tokens[l.position] ?? '')} (position ${l.position})`}
            onClick={() => onOpen(l.latent)}
          >
            <span className="jp-Transpector-neuron-bar" style={{ width: `${shade(l.value / top)}%` }} />
            <span>F{l.latent}</span> <span className="jp-Transpector-dim">{l.value.toFixed(2)}</span>
          </button>
        </li>
      ))}
    </ol>
  );
}

export const Latents = memoCard(LatentsCard, 'tools', 'view', 'state');
