/**
 * What the canvas reads from the kernel's app over REST, outside the websocket's versioned state:
 * the session as code, the model's hooks, the export, saved experiments in full.
 */
import type { ErrorMessage, Experiment, ExperimentDiff, HookInfo } from '../protocol.generated';
import { Transport } from './transport';

export class KernelReads {
  constructor(
    private readonly _transport: Transport,
    private readonly _onError: (error: ErrorMessage) => void
  ) {}

  /** The kernel app's API docs page (Swagger UI, through the proxy), when the transport has one. */
  get docsUrl(): string | undefined {
    return this._transport.docsUrl;
  }

  /** The session as plain TransformerLens code (GET api/code). */
  fetchCode(): Promise<string> {
    return this._transport.getText('code');
  }

  /** Every hook on the live model, a cell's included (GET api/hooks). */
  async fetchHooks(): Promise<HookInfo[]> {
    return (await this._transport.getJSON('hooks')) as HookInfo[];
  }

  /** Remove the hooks Transpector does not own (DELETE api/hooks/foreign); how many went. */
  async resetForeignHooks(): Promise<number> {
    const answer = (await this._transport.deleteJSON('hooks/foreign')) as { removed: number };
    return answer.removed;
  }

  /** The current view as one self-contained HTML file (GET api/export.html); on failure the
   * banner says why and null comes back. */
  async exportView(): Promise<string | null> {
    try {
      return await this._transport.getText('export.html');
    } catch (error) {
      const message = `Export failed: ${error instanceof Error ? error.message : String(error)}`;
      this._onError({ op: 'error', code: 'unavailable', message });
      return null;
    }
  }

  /** Every saved experiment in full (GET api/experiments). */
  async fetchExperiments(): Promise<Experiment[]> {
    return (await this._transport.getJSON('experiments')) as Experiment[];
  }

  /** What differs between two saved experiments (GET api/experiments/diff). */
  async fetchExperimentDiff(a: string, b: string): Promise<ExperimentDiff> {
    const query = `experiments/diff?a=${encodeURIComponent(a)}&b=${encodeURIComponent(b)}`;
    return (await this._transport.getJSON(query)) as ExperimentDiff;
  }
}
