/**
 * Prompt pairs and reference prompts, edited on the canvas (the kernel checks them: a pair of
 * different token counts is refused with a message that says so).
 * - A clean/corrupt pair is the unit of patching: "patch from clean" runs the corrupt prompt and
 *   sets the patch prompt to the clean one, so a node dragged onto itself restores the clean
 *   activation there; "patch from corrupt" does the reverse.
 * - Reference prompts are the baseline of mean and resample ablation.
 */
import * as React from 'react';

import type { PromptPair } from '../../protocol.generated';
import { quote } from '../format';
import { CanvasSnapshot, CanvasStore, activePrompt } from '../store';
import { LinesEditor } from './LinesEditor';
import { memoCard } from './memo';

function PairsCard({ store, snap }: { store: CanvasStore; snap: CanvasSnapshot }): React.ReactElement {
  const pairs = snap.state?.pairs ?? [];
  const prompt = activePrompt(snap.state);
  const patchFrom = snap.view.patchPrompt;
  return (
    <section className="jp-Transpector-card jp-Transpector-pairs" aria-label="Prompt pairs">
      <h3>
        Prompt pairs <span className="jp-Transpector-dim">clean / corrupt, one token count</span>
      </h3>
      {pairs.length === 0 && <p className="jp-Transpector-dim">None yet: add a clean prompt and a corrupted copy of it.</p>}
      <ul>
        {pairs.map((pair, i) => {
          const running = pair.corrupt === prompt && patchFrom === pair.clean ? 'corrupt' : pair.clean === prompt && patchFrom === pair.corrupt ? 'clean' : undefined;
          return (
            <li key={i} className="jp-Transpector-pair" data-active={running}>
              <div className="jp-Transpector-pair-text">
                <span className="jp-Transpector-dim">clean</span>
                <span title={quote(pair.clean)}>{pair.clean}</span>
                <span className="jp-Transpector-dim">corrupt</span>
                <span title={quote(pair.corrupt)}>{pair.corrupt}</span>
              </div>
              <div className="jp-Transpector-row">
                <button className="jp-Transpector-button" aria-pressed={running === 'corrupt'} onClick={() => store.usePair(pair, 'corrupt')} title="Run the corrupt prompt; patches copy from the clean one">
                  patch from clean
                </button>
                <button className="jp-Transpector-button" aria-pressed={running === 'clean'} onClick={() => store.usePair(pair, 'clean')} title="Run the clean prompt; patches copy from the corrupt one">
                  patch from corrupt
                </button>
                <span className="jp-Transpector-spacer" />
                <button className="jp-Transpector-button" aria-label={`Remove pair ${i + 1}`} onClick={() => store.setPairs(pairs.filter((_, j) => j !== i))}>
                  ×
                </button>
              </div>
            </li>
          );
        })}
      </ul>
      <AddPair prompt={prompt} onAdd={pair => store.setPairs([...pairs, pair])} />
      <LinesEditor
        label={
          <>
            Reference prompts <span className="jp-Transpector-dim">the baseline of mean and resample ablation, one per line</span>
          </>
        }
        values={snap.state?.reference_prompts ?? []}
        noun="reference prompt"
        allowEmpty={true}
        onSet={prompts => store.setReferences(prompts)}
      />
    </section>
  );
}

function AddPair({ prompt, onAdd }: { prompt: string; onAdd: (pair: PromptPair) => void }): React.ReactElement {
  const [clean, setClean] = React.useState('');
  const [corrupt, setCorrupt] = React.useState('');
  const submit = (event: React.FormEvent): void => {
    event.preventDefault();
    onAdd({ clean: clean || prompt, corrupt });
    setClean('');
    setCorrupt('');
  };
  return (
    <form className="jp-Transpector-row jp-Transpector-pair-form" onSubmit={submit} onKeyDown={event => event.stopPropagation()}>
      <input aria-label="Clean prompt" placeholder={`clean (default: ${prompt.slice(0, 30)})`} value={clean} spellCheck={false} onChange={e => setClean(e.target.value)} />
      <input aria-label="Corrupt prompt" placeholder="corrupt" value={corrupt} spellCheck={false} onChange={e => setCorrupt(e.target.value)} />
      <button className="jp-Transpector-button" type="submit" disabled={!corrupt}>
        Add pair
      </button>
    </form>
  );
}

export const Pairs = memoCard(PairsCard, 'state', 'view');
