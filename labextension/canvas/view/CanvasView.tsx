/**
 * The canvas: renders a CanvasStore snapshot; every action goes back through the store.
 */
import type { IRenderMimeRegistry } from '@jupyterlab/rendermime';
import * as React from 'react';

import { CanvasSnapshot, CanvasStore, Connection } from '../store';
import { AttachHelp } from './AttachHelp';
import { ErrorBanner } from './ErrorBanner';
import { Experiments } from './Experiments';
import { GraphPane } from './GraphPane';
import { Hooks } from './Hooks';
import { Interventions } from './Interventions';
import { TOOL_CARDS } from '../tools';
import { LossChart } from './LossChart';
import { MetricView } from './Metric';
import { NodeDetail } from './NodeDetail';
import { Notes } from './Notes';
import { Pairs } from './Pairs';
import { PlacementControls } from './PlacementControls';
import { PromptBar } from './PromptBar';
import { Prompts } from './Prompts';
import { Tokens } from './Tokens';
import { TopK } from './TopK';
import { useSnapshot } from './useSnapshot';

export interface CanvasViewProps {
  store: CanvasStore;
  copy: (text: string) => void;
  /** JupyterLab's renderers, for notes drawn as Markdown. */
  rendermime?: IRenderMimeRegistry | null;
}

export function CanvasView({ store, copy, rendermime }: CanvasViewProps): React.ReactElement {
  const snap = useSnapshot(store);
  const { connection, graph, run } = snap;
  const ready = graph !== null && snap.state !== null && connection.kind !== 'no_session';
  return (
    <div
      className="jp-Transpector-canvas"
      data-connection={connection.kind}
      data-version={snap.version ?? ''}
      data-run-version={run?.version ?? ''}
      data-kernel-status={snap.kernelStatus}
    >
      <StatusBar snap={snap} docsUrl={store.reads.docsUrl} onRetry={() => store.retry()} onExport={() => void exportView(store)} placement={<PlacementControls store={store} snap={snap} />} />
      <ErrorBanner store={store} snap={snap} />
      {connection.kind === 'no_session' && (
        <AttachHelp message={connection.message} copy={copy} onRetry={() => store.retry()} />
      )}
      {!ready && connection.kind !== 'no_session' && (
        <p className="jp-Transpector-dim jp-Transpector-waiting">
          {connection.kind === 'error' ? connection.message : 'Connecting to the kernel’s Transpector session…'}
        </p>
      )}
      {ready && graph && (
        <>
          <PromptBar snap={snap} onEdit={text => store.editPrompt(text)} />
          <Tokens store={store} snap={snap} />
          <div className="jp-Transpector-body">
            <GraphPane store={store} snap={snap} graph={graph} />
            <div className="jp-Transpector-cards">
              <MetricView store={store} snap={snap} />
              <TopK snap={snap} />
              <NodeDetail store={store} snap={snap} />
              <Interventions store={store} snap={snap} copy={copy} />
              <Notes store={store} snap={snap} rendermime={rendermime} />
              <Experiments store={store} snap={snap} />
              <Pairs store={store} snap={snap} />
              <Prompts store={store} snap={snap} />
              <Hooks store={store} snap={snap} />
              <LossChart snap={snap} onSelect={p => store.selectPosition(p)} />
              {TOOL_CARDS.map(({ name, Card }) => (
                <Card key={name} store={store} snap={snap} />
              ))}
            </div>
          </div>
        </>
      )}
    </div>
  );
}

const LABELS: Record<Connection['kind'], string> = {
  connecting: 'connecting…',
  live: 'live',
  reconnecting: 'reconnecting…',
  no_session: 'no session',
  error: 'error'
};

function StatusBar(props: { snap: CanvasSnapshot; docsUrl?: string; onRetry: () => void; onExport: () => void; placement?: React.ReactNode }): React.ReactElement {
  const { snap, docsUrl, onRetry, onExport, placement } = props;
  const { connection, graph, kernelStatus } = snap;
  const detail =
    connection.kind === 'reconnecting' ? connection.reason : connection.kind === 'error' ? connection.message : '';
  const stale = snap.run !== null && snap.version !== null && snap.run.version < snap.version;
  return (
    <div className="jp-Transpector-status">
      <span className="jp-Transpector-model" title={graph?.model_name}>
        {graph ? modelName(graph.model_name) : 'Transpector'}
      </span>
      {graph && (
        <span className="jp-Transpector-dim">
          {graph.n_layers} layers · {graph.n_heads} heads · d_model {graph.d_model}
        </span>
      )}
      {placement}
      <span className="jp-Transpector-spacer" />
      {stale && <span className="jp-Transpector-pill" data-kind="running">running…</span>}
      <span className="jp-Transpector-pill" data-kind={connection.kind} title={detail}>
        {LABELS[connection.kind]}
      </span>
      <span className="jp-Transpector-pill" data-kind={`kernel-${kernelStatus}`} title="Kernel status">
        kernel {kernelStatus}
      </span>
      {snap.version !== null && <span className="jp-Transpector-dim">v{snap.version}</span>}
      {connection.kind === 'live' && (
        <button className="jp-Transpector-button" onClick={onExport} title="Save the current view as one HTML file that opens offline, read-only">
          Export
        </button>
      )}
      {docsUrl && connection.kind === 'live' && (
        <a className="jp-Transpector-docs-link" href={docsUrl} target="_blank" rel="noreferrer" title="The kernel app's REST API (Swagger UI)">
          API docs
        </a>
      )}
      {(connection.kind === 'reconnecting' || connection.kind === 'error') && (
        <button className="jp-Transpector-button" onClick={onRetry}>
          Retry now
        </button>
      )}
    </div>
  );
}

/** Download the kernel's export of the current view (a file named by model and version). */
async function exportView(store: CanvasStore): Promise<void> {
  const html = await store.reads.exportView();
  if (html === null) {
    return;
  }
  const { graph, version } = store.snapshot;
  const name = `transpector-${modelName(graph?.model_name ?? 'model')}-v${version ?? 0}.html`.replace(/[^A-Za-z0-9._-]/g, '-');
  const url = URL.createObjectURL(new Blob([html], { type: 'text/html' }));
  const link = document.createElement('a');
  link.href = url;
  link.download = name;
  link.click();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

/** A model loaded from a folder is named by its path: show the folder's name. */
function modelName(name: string): string {
  return name.split('/').filter(Boolean).pop() ?? name;
}
