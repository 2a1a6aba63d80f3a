// Timers as a dependency: the regexp pool and the I/O gate start timers (deadlines, idle periods,
// waits), and tests drive them by hand instead of sleeping. SYSTEM_TIMERS is Node's own.

export interface Timers {
  /**
   * Calls `callback` once after `delayMs`. A `background` timer does not keep the process alive
   * (an idle worker's retirement must not hold a stopping agent).
   */
  setTimeout(callback: () => void, delayMs: number, background?: boolean): unknown;
  clearTimeout(handle: unknown): void;
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
};
