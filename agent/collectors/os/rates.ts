// Per-second rates of kernel counters, against the previous sample kept by the collector instance.
// The first sample (and the first sample of a device that appears later) has no previous one: its rates
// are since boot (counter / uptime), so every key exists from the first run.
import { round } from './proc-files.js';

/** Counter values of one thing (a disk, an interface) in a fixed order, at one uptime. */
export type CounterSample = Map<string, readonly number[]>;

/**
 * Per-second rate of one counter over `elapsedSeconds`. A counter that went down was reset (device
 * re-created, 32-bit wrap): it counted up from 0 since, so its current value is the increase.
 */
export function perSecond(before: number, after: number, elapsedSeconds: number): number {
  if (!(elapsedSeconds > 0)) return 0;
  const increase = after >= before ? after - before : after;
  return round(increase / elapsedSeconds);
}

/** Keeps the previous sample of a set of counters and turns each new sample into rates. */
export class RateTracker {
  private previous: { uptimeSeconds: number; counters: CounterSample } | undefined;
  /** What the last call returned per id, reused when two runs fall in the same 10 ms uptime tick. */
  private lastRates = new Map<string, number[]>();

  /** Rates per id, in the order of the counters given. */
  next(uptimeSeconds: number, counters: CounterSample): Map<string, number[]> {
    const base = this.previous;
    const elapsed = base ? uptimeSeconds - base.uptimeSeconds : uptimeSeconds;
    const out = new Map<string, number[]>();
    for (const [id, values] of counters) {
      const before = base?.counters.get(id);
      const reuse = before && !(elapsed > 0) ? this.lastRates.get(id) : undefined;
      out.set(
        id,
        reuse ??
          (before
            ? values.map((v, i) => perSecond(before[i] ?? 0, v, elapsed))
            : values.map((v) => perSecond(0, v, uptimeSeconds))),
      );
    }
    // Same tick as the previous run: keep the older base so the next interval is measured from it.
    if (!base || elapsed > 0) this.previous = { uptimeSeconds, counters };
    this.lastRates = out;
    return out;
  }
}
