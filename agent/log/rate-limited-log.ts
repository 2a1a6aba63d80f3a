// Warnings that may repeat at packet or event rate (dropped packets, socket errors, a failing event
// subscriber) logged at most once per kind per interval (a minute), each with the number of
// occurrences since the previous warning of that kind: a flood of bad packets costs one line a
// minute, not one per packet. The clock is injected so tests drive it.

export type WarningSink = (message: string, fields: Record<string, unknown>) => void;

/** Kinds tracked at most: kinds come from a closed list (drop reasons, errno codes), this is a guard. */
const MAX_KINDS = 64;

interface KindState {
  /** When the last warning of this kind was logged. */
  loggedAt: number;
  /** Occurrences since then, not yet logged. */
  suppressed: number;
}

export class RateLimitedLog {
  private readonly kinds = new Map<string, KindState>();

  constructor(
    private readonly sink: WarningSink,
    private readonly now: () => number = Date.now,
    readonly intervalMs = 60_000,
  ) {}

  /**
   * One occurrence of `kind`: logged now when it is the first of its kind or the last warning of
   * its kind is `intervalMs` old, with `count` = occurrences since the previous warning (this one
   * included); otherwise only counted.
   */
  warn(kind: string, message: string, fields: Record<string, unknown> = {}): void {
    const now = this.now();
    const state = this.kinds.get(kind);
    if (state && now - state.loggedAt < this.intervalMs) {
      state.suppressed++;
      return;
    }
    const count = (state?.suppressed ?? 0) + 1;
    this.kinds.delete(kind);
    this.kinds.set(kind, { loggedAt: now, suppressed: 0 });
    if (this.kinds.size > MAX_KINDS) this.kinds.delete(this.kinds.keys().next().value!);
    // `since_s`: the window `count` covers (absent for the first warning of a kind).
    const window = state ? { since_s: Math.round((now - state.loggedAt) / 1000) } : {};
    this.sink(message, { ...fields, count, ...window });
  }
}
