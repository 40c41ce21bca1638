/**
 * The canvas's snapshot and the view state that lives only in the browser (selection, folds,
 * picks, thresholds, the attention head shown): what React reads, and the changes that need no
 * kernel. CanvasStore (store.ts) adds the session, its connection and the kernel's answers.
 */
import type { NodeKind } from '../protocol.generated';
import { AttentionView, CanvasSnapshot, ViewState, initialSnapshot } from './model';

export class ViewStore {
  protected _snap: CanvasSnapshot = initialSnapshot();
  protected readonly _listeners = new Set<() => void>();
  protected readonly _focusListeners = new Set<(node: string) => void>();
  protected _disposed = false;

  get snapshot(): CanvasSnapshot {
    return this._snap;
  }

  /** For React's useSyncExternalStore: `fn` runs after every new snapshot. */
  subscribe = (fn: () => void): (() => void) => {
    this._listeners.add(fn);
    return () => this._listeners.delete(fn);
  };

  getSnapshot = (): CanvasSnapshot => this._snap;

  get isDisposed(): boolean {
    return this._disposed;
  }

  /** The graph pane listens here for `focusNode`'s nodes to centre. */
  onFocusNode = (fn: (node: string) => void): (() => void) => {
    this._focusListeners.add(fn);
    return () => this._focusListeners.delete(fn);
  };

  /** Choose the head (or direction) whose attention tints the tokens. */
  setAttention(patch: Partial<AttentionView>): void {
    this._setView({ attention: { ...this._snap.view.attention, ...patch } });
  }

  /** Draw the composition edges scoring at least `threshold` on the graph (null: none). */
  setCompositionThreshold(threshold: number | null): void {
    this._setView({ compositionThreshold: threshold });
  }

  /** Draw the edge attribution edges with |score| at least `threshold` (null: none). */
  setCircuitThreshold(threshold: number | null): void {
    this._setView({ circuitThreshold: threshold });
  }

  setTintBySweep(on: boolean): void {
    this._setView({ tintBySweep: on });
  }

  /** Add `node` to the picked nodes, or take it out. */
  togglePicked(node: string): void {
    const picked = this._snap.view.picked;
    this._setView({ picked: picked.includes(node) ? picked.filter(n => n !== node) : [...picked, node] });
  }

  setPicked(nodes: string[]): void {
    this._setView({ picked: [...new Set(nodes)] });
  }

  /** A patch drag started (null: it ended). */
  setPatchSource(node: string | null): void {
    this._setView({ patchSource: node });
  }

  setPatchPrompt(text: string): void {
    this._setView({ patchPrompt: text });
  }

  toggleFold(layer: number): void {
    const folded = this._snap.view.folded;
    this._setView({
      folded: folded.includes(layer) ? folded.filter(l => l !== layer) : [...folded, layer].sort((a, b) => a - b)
    });
  }

  setFolded(layers: number[]): void {
    this._setView({ folded: [...layers] });
  }

  toggleKind(kind: NodeKind): void {
    const hidden = this._snap.view.hiddenKinds;
    this._setView({ hiddenKinds: hidden.includes(kind) ? hidden.filter(k => k !== kind) : [...hidden, kind] });
  }

  dismissError(): void {
    this._set({ error: null });
  }

  // ---- snapshots -----------------------------------------------------------------------------
  protected _set(patch: Partial<CanvasSnapshot>): void {
    if (this._disposed) {
      return;
    }
    this._snap = { ...this._snap, ...patch };
    for (const fn of [...this._listeners]) {
      fn();
    }
  }

  protected _setView(patch: Partial<ViewState>): void {
    this._set({ view: { ...this._snap.view, ...patch } });
  }
}
