// One timer per interval for all the collectors of an agent: at each beat of the 10 s grid every
// collector of that interval runs, one after the other, in the same turn of the event loop. The
// agent wakes once per interval instead of once per collector, and arms 2-3 timers per beat
// instead of one per collector and run.

/**
 * The delay to the next point of the interval's grid on the wall clock, shifted by the agent's
 * phase (0-1): random per agent, so a cluster of agents with synchronised clocks does not collect,
 * and later report, in the same instant.
 */
export function nextGridDelay(intervalMs: number, phase: number, now = Date.now()): number {
  const offsetMs = Math.floor(phase * intervalMs);
  return intervalMs - ((now - offsetMs) % intervalMs) || intervalMs;
}

interface Beat {
  timer?: NodeJS.Timeout;
  listeners: Set<() => void>;
}

export class IntervalClock {
  private readonly beats = new Map<number, Beat>();

  constructor(private readonly phase: number) {}

  /** Calls `listener` at every beat of `intervalMs` until the returned function is called. */
  subscribe(intervalMs: number, listener: () => void): () => void {
    let beat = this.beats.get(intervalMs);
    if (!beat) {
      beat = { listeners: new Set() };
      this.beats.set(intervalMs, beat);
      this.arm(intervalMs, beat);
    }
    beat.listeners.add(listener);
    const subscribed = beat;
    return () => {
      subscribed.listeners.delete(listener);
      if (subscribed.listeners.size === 0 && this.beats.get(intervalMs) === subscribed) {
        clearTimeout(subscribed.timer);
        this.beats.delete(intervalMs);
      }
    };
  }

  /** Stops every beat (the agent stops). */
  stop(): void {
    for (const beat of this.beats.values()) clearTimeout(beat.timer);
    this.beats.clear();
  }

  private arm(intervalMs: number, beat: Beat): void {
    beat.timer = setTimeout(
      () => {
        this.arm(intervalMs, beat);
        // A copy: a listener subscribed by one of these calls waits for the next beat.
        for (const listener of [...beat.listeners]) listener();
      },
      nextGridDelay(intervalMs, this.phase),
    );
    beat.timer.unref();
  }
}
