/**
 * A list of texts edited one per line (prompts, reference prompts). The box keeps its draft
 * until the session has that list, so a refused set leaves the text to fix.
 */
import * as React from 'react';

const linesOf = (text: string): string[] => text.split('\n').filter(line => line.trim());

export function LinesEditor(props: {
  label: React.ReactNode;
  values: string[];
  noun: string;
  allowEmpty: boolean;
  onSet: (values: string[]) => void;
}): React.ReactElement {
  const { label, values, noun, allowEmpty, onSet } = props;
  const saved = values.join('\n');
  const [draft, setDraft] = React.useState<string | null>(null);
  const lines = linesOf(draft ?? saved);
  React.useEffect(() => {
    if (draft !== null && linesOf(draft).join('\n') === saved) {
      setDraft(null);
    }
  }, [saved, draft]);
  const id = React.useId();
  return (
    <div className="jp-Transpector-lines">
      <label className="jp-Transpector-label" htmlFor={id}>
        {label}
      </label>
      <textarea
        id={id}
        rows={3}
        spellCheck={false}
        value={draft ?? saved}
        onChange={event => setDraft(event.target.value)}
        // Keep JupyterLab's notebook shortcuts out of the text box.
        onKeyDown={event => event.stopPropagation()}
      />
      <button
        className="jp-Transpector-button"
        disabled={draft === null || linesOf(draft).join('\n') === saved || (!allowEmpty && lines.length === 0)}
        onClick={() => onSet(lines)}
      >
        Set {lines.length} {noun}
        {lines.length === 1 ? '' : 's'}
      </button>
    </div>
  );
}
