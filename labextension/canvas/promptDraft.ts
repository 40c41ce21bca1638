/**
 * The prompt box's local draft: kept while an edit is unsent (debounced, the latest edit wins)
 * or unanswered, and dropped once the session's state has caught up. A reconnect sends an
 * unanswered edit again; a refused one stays as the draft, so the user can fix it.
 */
export interface DraftHost {
  draft(): string | null;
  setDraft(text: string | null): void;
  /** Send set_prompt; its request id, or null when not connected. */
  sendPrompt(text: string): string | null;
}

export class PromptDraft {
  private _timer: ReturnType<typeof setTimeout> | null = null;
  private _unsent = false;
  private _request: string | null = null;

  constructor(
    private readonly _host: DraftHost,
    private readonly _debounceMs: number
  ) {}

  edit(text: string): void {
    this._unsent = true;
    this._host.setDraft(text);
    this._clearTimer();
    this._timer = setTimeout(() => this._flush(), this._debounceMs);
  }

  /** A (re)connect's full state: an edit whose answer was lost goes again. */
  connected(): void {
    if (this._request !== null) {
      this._request = null;
      this._unsent = true;
    }
    this._settle();
    if (this._unsent && this._timer === null) {
      this._flush();
    }
  }

  /** A change was accepted (``ours``: its request id when we sent it). */
  changed(ours: string | null): void {
    if (ours !== null && ours === this._request) {
      this._request = null;
    }
    this._settle();
  }

  /** An error answered one of our requests. */
  refused(requestId: string): void {
    if (requestId === this._request) {
      this._request = null;
    }
  }

  dispose(): void {
    this._clearTimer();
  }

  private _clearTimer(): void {
    if (this._timer !== null) {
      clearTimeout(this._timer);
      this._timer = null;
    }
  }

  private _flush(): void {
    this._timer = null;
    const text = this._host.draft();
    if (text === null) {
      this._unsent = false;
      return;
    }
    const requestId = this._host.sendPrompt(text);
    if (requestId !== null) {
      this._unsent = false;
      this._request = requestId;
    }
  }

  /** Drop the draft once nothing of ours is in flight and the state caught up. */
  private _settle(): void {
    if (this._unsent || this._request !== null || this._host.draft() === null) {
      return;
    }
    this._host.setDraft(null);
  }
}
