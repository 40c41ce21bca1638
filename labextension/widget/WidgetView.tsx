/**
 * What the notebook widget draws: the compact canvas (prompt, tokens, metric, next tokens,
 * interventions, logit lens) or one of its views (next tokens, a head's attention, a tool
 * card), from the same store and components as the canvas. The page's JupyterLab theme is used
 * when there is one; elsewhere (VS Code, Colab) light or dark defaults stand in.
 */
import * as React from 'react';

import type { CanvasStore } from '../canvas/store';
import { nodeById } from '../canvas/store';
import { TOOL_CARDS } from '../canvas/tools';
import { useSnapshot } from '../canvas/view/useSnapshot';
import { ErrorBanner } from '../canvas/view/ErrorBanner';
import { Interventions } from '../canvas/view/Interventions';
import { MetricView } from '../canvas/view/Metric';
import { Pattern } from '../canvas/view/NodeData';
import { PromptBar } from '../canvas/view/PromptBar';
import { Tokens } from '../canvas/view/Tokens';
import { TopK } from '../canvas/view/TopK';

export interface WidgetViewProps {
  store: CanvasStore;
  view: string;
  node: string;
  /** The tool card a tool view shows. */
  card: string;
}

/** True when the page defines JupyterLab's theme variables. */
function themed(): boolean {
  return getComputedStyle(document.documentElement).getPropertyValue('--jp-layout-color1').trim() !== '';
}

export function WidgetView({ store, view, node, card }: WidgetViewProps): React.ReactElement {
  const snap = useSnapshot(store);
  const [fallback] = React.useState(() => !themed());
  React.useEffect(() => {
    if (node && snap.graph) {
      store.selectNode(node);
    }
  }, [store, node, snap.graph]);
  const ready = snap.graph !== null && snap.state !== null;
  const Card = TOOL_CARDS.find(c => c.name === card)?.Card;
  const picked = nodeById(snap.graph, node);
  return (
    <div
      className={`jp-Transpector-canvas jp-Transpector-widget${fallback ? ' jp-Transpector-widget-theme' : ''}`}
      data-view={view}
      data-connection={snap.connection.kind}
      data-version={snap.version ?? ''}
      data-run-version={snap.run?.version ?? ''}
    >
      <div className="jp-Transpector-widget-status jp-Transpector-dim">
        Transpector · {snap.graph?.model_name.split('/').pop() ?? '…'} · v{snap.version ?? '–'} · {snap.connection.kind}
      </div>
      <ErrorBanner store={store} snap={snap} />
      {!ready && <p className="jp-Transpector-dim">Connecting to the session…</p>}
      {ready && view === 'canvas' && (
        <>
          <PromptBar snap={snap} onEdit={text => store.editPrompt(text)} />
          <Tokens store={store} snap={snap} />
          <div className="jp-Transpector-widget-cards">
            <MetricView store={store} snap={snap} />
            <TopK snap={snap} />
            <Interventions store={store} snap={snap} copy={text => void navigator.clipboard?.writeText(text)} />
          </div>
          {TOOL_CARDS.filter(c => c.name === 'logit_lens').map(({ name, Card: Lens }) => (
            <Lens key={name} store={store} snap={snap} />
          ))}
        </>
      )}
      {ready && view === 'topk' && <TopK snap={snap} />}
      {ready && view === 'attention' && picked && <Pattern snap={snap} node={picked} />}
      {ready && Card && <Card store={store} snap={snap} />}
    </div>
  );
}
