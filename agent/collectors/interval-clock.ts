// One timer per interval for all the collectors of an agent: at each beat every collector of that
// interval runs, one after the other, in the same turn of the event loop. Every interval's grid is
// shifted by the same offset, so the beats of 60 s fall on beats of 10 s: the agent wakes once per
// 10 s, not once per collector nor once more per minute.
import { SYSTEM_SCHEDULING_TIME, type SchedulingTime } from '../shared/timers.js';

/**
 * Where the collectors' time comes from: Node's in the agent, the test's own in tests (STYLE.md,
 * "Time is injected"). The clock carries it, so every collector of an agent runs on one time.
 */
export type CollectorTime = SchedulingTime;
export const SYSTEM_COLLECTOR_TIME: CollectorTime = SYSTEM_SCHEDULING_TIME;

/** The span the agent's offset is drawn from: the default interval. */
const OFFSET_SPAN_MS = 10_000;

/**
 * The delay to the next point of the interval's grid on the wall clock, shifted by `offsetMs`:
 * random per agent, so a cluster of agents with synchronised clocks does not collect, and later
 * report, in the same instant.
 */
export function nextGridDelay(intervalMs: number, offsetMs: number, now = Date.now()): number {
  return intervalMs - ((now - offsetMs) % intervalMs) || intervalMs;
}

interface Beat {
  timer?: unknown;
  listeners: Set<() => void>;
}

export class IntervalClock {
  private readonly beats = new Map<number, Beat>();
  private readonly offsetMs: number;

  /** `phase` (0-1): where in the first 10 s of every grid this agent's beats fall. */
  constructor(
    phase: number,
    readonly time: CollectorTime = SYSTEM_COLLECTOR_TIME,
  ) {
    this.offsetMs = Math.floor(phase * OFFSET_SPAN_MS);
  }

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
        this.time.timers.clearTimeout(subscribed.timer);
        this.beats.delete(intervalMs);
      }
    };
  }

  /** Stops every beat (the agent stops). */
  stop(): void {
    for (const beat of this.beats.values()) this.time.timers.clearTimeout(beat.timer);
    this.beats.clear();
  }

  private arm(intervalMs: number, beat: Beat): void {
    beat.timer = this.time.timers.setTimeout(
      () => {
        this.arm(intervalMs, beat);
        // A copy: a listener subscribed by one of these calls waits for the next beat.
        for (const listener of [...beat.listeners]) listener();
      },
      nextGridDelay(intervalMs, this.offsetMs, this.time.now()),
      true,
    );
  }
}
