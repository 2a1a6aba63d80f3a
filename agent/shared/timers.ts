// Timers as a dependency (STYLE.md, "Time is injected"): the regexp pool, the I/O gate, keyring
// sync and the RPC follower take them through their constructors, and tests drive them by hand
// instead of sleeping. SYSTEM_TIMERS is Node's own, looked up at each call (so vitest's fake
// timers drive it too).

export interface Timers {
  /**
   * Calls `callback` once after `delayMs`. A `background` timer does not keep the process alive
   * (an idle worker's retirement, a retry: neither must hold a stopping agent).
   */
  setTimeout(callback: () => void, delayMs: number, background?: boolean): unknown;
  clearTimeout(handle: unknown): void;
  /** Calls `callback` once, in the next turn of the event loop (after the I/O of this one). */
  setImmediate(callback: () => void): void;
}

export const SYSTEM_TIMERS: Timers = {
  setTimeout(callback, delayMs, background = false) {
    const timer = setTimeout(callback, delayMs);
    if (background) timer.unref();
    return timer;
  },
  clearTimeout(handle) {
    clearTimeout(handle as NodeJS.Timeout);
  },
  setImmediate(callback) {
    setImmediate(callback);
  },
};
