/**
 * Notes: the Notes card lists every note of the session (its target, its text as Markdown drawn
 * by JupyterLab's own renderer, so sanitized and themed like a notebook's Markdown); a click on
 * a target selects it (a node, a token position, a lens cell). NoteEditor writes one target's
 * note (the selected node's detail panel). Notes change only through `set_note`.
 */
import type { IRenderMimeRegistry } from '@jupyterlab/rendermime';
import { MimeModel } from '@jupyterlab/rendermime';
import * as React from 'react';

import { NoteItem, describeTarget, noteSelection, orderNotes } from '../notes';
import { CanvasSnapshot, CanvasStore } from '../store';
import { memoCard } from './memo';

export interface NotesProps {
  store: CanvasStore;
  snap: CanvasSnapshot;
  /** JupyterLab's renderers; without them (tests, a bare page) a note shows as plain text. */
  rendermime?: IRenderMimeRegistry | null;
}

function NotesCard({ store, snap, rendermime }: NotesProps): React.ReactElement {
  const notes = snap.state?.notes ?? {};
  const items = React.useMemo(() => orderNotes(notes, snap.graph), [notes, snap.graph]);
  return (
    <section className="jp-Transpector-card jp-Transpector-notes" aria-label="Notes" data-count={items.length}>
      <h3>
        Notes <span className="jp-Transpector-dim">{items.length}</span>
      </h3>
      {items.length === 0 ? (
        <p className="jp-Transpector-dim">
          None yet: write one in a node’s detail panel, or from a cell with <code>session.note("L3.H2", "…")</code> (also
          <code>"pos:5"</code>, <code>"lens:L3.resid_pre@-1"</code>, <code>"sweep:head_out:L3.H2"</code>).
        </p>
      ) : (
        <ul className="jp-Transpector-note-list">
          {items.map(item => (
            <NoteRow key={item.target} store={store} snap={snap} item={item} rendermime={rendermime ?? null} />
          ))}
        </ul>
      )}
    </section>
  );
}

function NoteRow(props: { store: CanvasStore; snap: CanvasSnapshot; item: NoteItem; rendermime: IRenderMimeRegistry | null }): React.ReactElement {
  const { store, snap, item, rendermime } = props;
  const select = (): void => {
    if (!item.parsed) {
      return;
    }
    const chosen = noteSelection(item.parsed, snap.graph, snap.run?.tokens.length ?? null);
    if (chosen.node !== undefined) {
      store.focusNode(chosen.node);
    }
    if (chosen.position !== undefined) {
      store.selectPosition(chosen.position);
    }
    if (chosen.lensCell !== undefined) {
      store.selectLensCell(chosen.lensCell);
    }
  };
  return (
    <li className="jp-Transpector-note" data-target={item.target} data-kind={item.parsed?.kind ?? 'unknown'}>
      <div className="jp-Transpector-row">
        <button
          className="jp-Transpector-linkbutton jp-Transpector-note-target"
          title={item.parsed ? `Select ${item.target}` : `${item.target}: a target this canvas cannot select`}
          disabled={!item.parsed}
          onClick={select}
        >
          {item.parsed ? describeTarget(item.parsed) : item.target}
        </button>
        <span className="jp-Transpector-spacer" />
        <button
          className="jp-Transpector-button"
          aria-label={`Delete the note on ${item.target}`}
          onClick={() => store.send({ op: 'set_note', node: item.target, text: '' })}
        >
          Delete
        </button>
      </div>
      <Markdown text={item.text} rendermime={rendermime} />
    </li>
  );
}

/** `text` drawn by JupyterLab's text/markdown renderer (untrusted: sanitized), else as text. */
export function Markdown({ text, rendermime }: { text: string; rendermime: IRenderMimeRegistry | null }): React.ReactElement {
  const host = React.useRef<HTMLDivElement>(null);
  React.useEffect(() => {
    const node = host.current;
    if (!rendermime || !node) {
      return;
    }
    // Its node goes in as a plain element: a Lumino attach would have the dispose below detach
    // a node that React may already have taken out of the page (which throws).
    const renderer = rendermime.createRenderer('text/markdown');
    let live = true;
    node.appendChild(renderer.node);
    void renderer.renderModel(new MimeModel({ data: { 'text/markdown': text }, trusted: false })).catch(() => {
      if (live) {
        renderer.node.textContent = text;
      }
    });
    return () => {
      live = false;
      renderer.node.remove();
      renderer.dispose();
    };
  }, [text, rendermime]);
  return rendermime ? (
    <div className="jp-Transpector-note-text" ref={host} />
  ) : (
    <div className="jp-Transpector-note-text jp-Transpector-note-plain">{text}</div>
  );
}

/** One target's note: a textarea, Save and Delete, each a `set_note`. The draft stays while the
 * user types; otherwise the box follows the session's note (a cell's change shows). */
export function NoteEditor({ store, snap, target }: { store: CanvasStore; snap: CanvasSnapshot; target: string }): React.ReactElement {
  const current = snap.state?.notes?.[target] ?? '';
  const [draft, setDraft] = React.useState<string | null>(null);
  const text = draft ?? current;
  const save = (value: string): void => {
    if (store.send({ op: 'set_note', node: target, text: value }) !== null) {
      setDraft(null);
    }
  };
  return (
    <div className="jp-Transpector-note-editor" role="group" aria-label={`Note on ${target}`}>
      <textarea
        aria-label={`Note text for ${target}`}
        value={text}
        rows={Math.min(8, Math.max(2, text.split('\n').length))}
        placeholder="A note on this node (Markdown)"
        spellCheck={true}
        onChange={e => setDraft(e.target.value)}
        onKeyDown={e => e.stopPropagation()}
      />
      <div className="jp-Transpector-row">
        <button className="jp-Transpector-button" disabled={draft === null || draft === current} onClick={() => save(text)}>
          Save note
        </button>
        <button className="jp-Transpector-button" disabled={current === '' && !draft} onClick={() => save('')}>
          Delete note
        </button>
        {draft !== null && draft !== current && <span className="jp-Transpector-dim">unsaved</span>}
      </div>
    </div>
  );
}

export const Notes = memoCard(NotesCard, 'state', 'graph', 'run');
