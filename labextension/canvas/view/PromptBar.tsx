/**
 * The prompt box: shows the local draft while an edit is in flight, else the session's prompt.
 */
import * as React from 'react';

import { CanvasSnapshot, activePrompt } from '../store';

export function PromptBar({ snap, onEdit }: { snap: CanvasSnapshot; onEdit: (text: string) => void }): React.ReactElement {
  const value = snap.promptDraft ?? activePrompt(snap.state);
  return (
    <div className="jp-Transpector-promptbar">
      <label className="jp-Transpector-label" htmlFor="jp-Transpector-prompt">
        Prompt
      </label>
      <textarea
        id="jp-Transpector-prompt"
        className="jp-Transpector-prompt"
        rows={2}
        spellCheck={false}
        value={value}
        placeholder="Type a prompt"
        onChange={event => onEdit(event.target.value)}
        // Keep JupyterLab's notebook shortcuts out of the text box.
        onKeyDown={event => event.stopPropagation()}
      />
    </div>
  );
}
