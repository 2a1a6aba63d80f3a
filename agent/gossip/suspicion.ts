// Lifeguard's suspicion timer: a suspected member is declared dead when the timer runs out. It
// starts at `maxMs` and shrinks toward `minMs` as independent members confirm the suspicion, so
// a truly dead node is declared fast while a node suspected by one slow prober gets time to refute.
import { SYSTEM_TIMERS, type Timers } from '../shared/timers.js';

/**
 * The clock and timers the member table and its suspicions run on: Node's in the agent, the
 * test's own in tests (STYLE.md, "Time is injected"), so protocol time can be driven by hand.
 */
export interface GossipTime {
  timers: Timers;
  /** Wall clock, ms since the epoch. */
  now: () => number;
}

/** Node's timers and Date.now, looked up at each call (so vitest's fake timers drive them too). */
export const SYSTEM_TIME: GossipTime = { timers: SYSTEM_TIMERS, now: () => Date.now() };

/**
 * The remaining time before a suspect is declared dead, given `confirmations` independent
 * confirmations out of `expected`, after `elapsedMs`. Pure: tested alone.
 */
export function remainingSuspicionTime(
  confirmations: number,
  expected: number,
  elapsedMs: number,
  minMs: number,
  maxMs: number,
): number {
  const fraction = expected > 0 ? Math.log(confirmations + 1) / Math.log(expected + 1) : 1;
  const timeoutMs = Math.max(minMs, Math.floor(maxMs - fraction * (maxMs - minMs)));
  return timeoutMs - elapsedMs;
}

/** The minimum suspicion timeout: grows with log10 of the cluster size (SWIM's λ·log N). */
export function suspicionMinTimeout(
  multiplier: number,
  clusterSize: number,
  probeIntervalMs: number,
): number {
  const scale = Math.max(1, Math.log10(Math.max(1, clusterSize)));
  return Math.round(multiplier * scale * probeIntervalMs);
}

export class Suspicion {
  private readonly confirmedBy = new Set<string>();
  private readonly startedAt: number;
  private timer: unknown;

  constructor(
    /** The member that first raised the suspicion (does not count as a confirmation). */
    from: string,
    private readonly expected: number,
    private readonly minMs: number,
    private readonly maxMs: number,
    private readonly onTimeout: () => void,
    private readonly time: GossipTime = SYSTEM_TIME,
  ) {
    this.startedAt = time.now();
    this.confirmedBy.add(from);
    this.timer = time.timers.setTimeout(onTimeout, expected > 0 ? maxMs : minMs, true);
  }

  /** Counts an independent confirmation; returns true when it was new (and should be re-gossiped). */
  confirm(from: string): boolean {
    if (this.confirmedBy.size - 1 >= this.expected || this.confirmedBy.has(from)) return false;
    this.confirmedBy.add(from);
    this.time.timers.clearTimeout(this.timer);
    const remainingMs = remainingSuspicionTime(
      this.confirmedBy.size - 1,
      this.expected,
      this.time.now() - this.startedAt,
      this.minMs,
      this.maxMs,
    );
    this.timer = this.time.timers.setTimeout(this.onTimeout, Math.max(0, remainingMs), true);
    return true;
  }

  cancel(): void {
    this.time.timers.clearTimeout(this.timer);
  }
}
