/**
 * Shown while the kernel has no Transpector session: what to run, with a copy button.
 */
import * as React from 'react';

export const ATTACH_SNIPPET = 'import transpector\nsession = transpector.attach(model)';

export function AttachHelp(props: {
  message: string;
  copy: (text: string) => void;
  onRetry: () => void;
}): React.ReactElement {
  const [copied, setCopied] = React.useState(false);
  return (
    <div className="jp-Transpector-attach">
      <h3>No Transpector session in this kernel yet</h3>
      <p className="jp-Transpector-dim">{props.message}</p>
      <p>Run this in the notebook, with your TransformerLens model as <code>model</code>:</p>
      <pre className="jp-Transpector-snippet">{ATTACH_SNIPPET}</pre>
      <div className="jp-Transpector-row">
        <button
          className="jp-Transpector-button jp-mod-accept"
          onClick={() => {
            props.copy(ATTACH_SNIPPET);
            setCopied(true);
          }}
        >
          {copied ? 'Copied' : 'Copy snippet'}
        </button>
        <button className="jp-Transpector-button" onClick={props.onRetry}>
          Check again
        </button>
      </div>
      <p className="jp-Transpector-dim">This view connects by itself once the cell has run.</p>
    </div>
  );
}
