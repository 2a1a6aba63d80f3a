// Timers as a dependency (STYLE.md, "Time is injected"): keyring sync and the RPC follower take
// them through their constructors, and tests drive them by hand instead of sleeping. SYSTEM_TIMERS
// is Node's own (looked up at each call, so vitest's fake timers drive it too).

export interface Timers {
  /** Calls `callback` once after `delayMs`. The timer never keeps the process alive on its own. */
  setTimeout(callback: () => void, delayMs: number): unknown;
  clearTimeout(handle: unknown): void;
  /** Calls `callback` once, in the next turn of the event loop (after the I/O of this one). */
  setImmediate(callback: () => void): void;
}

export const SYSTEM_TIMERS: Timers = {
  setTimeout: (callback, delayMs) => setTimeout(callback, delayMs).unref(),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
  setImmediate: (callback) => {
    setImmediate(callback);
  },
};
