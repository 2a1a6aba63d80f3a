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

/**
 * The time a scheduler runs on (collectors, checks): Node's in the agent, the test's own in tests.
 */
export interface SchedulingTime {
  /** Every run's timer; background timers, so they never hold a stopping agent. */
  timers: Timers;
  /** Wall clock, ms since the epoch: where runs fall on the interval's grid, times shown. */
  now(): number;
  /** Monotonic ms: how long a run took, due times and lags, unmoved when the wall clock is set. */
  monotonicNow(): number;
}

/** Node's own, looked up at each call (so vitest's fake timers drive them too). */
export const SYSTEM_SCHEDULING_TIME: SchedulingTime = {
  timers: SYSTEM_TIMERS,
  now: () => Date.now(),
  monotonicNow: () => performance.now(),
};
