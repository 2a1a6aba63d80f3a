// Per-second rates of kernel counters, against the previous sample kept by the collector instance.
// The first sample (and the first sample of a device that appears later) has no previous one: its rates
// are since boot (counter / uptime), so every key exists from the first run.
import type { CollectedData, CollectedValue, CollectorInstance } from '../collector.js';
import { missingProcFile, procPath, readText, round } from './proc-files.js';
import { readUptime } from './uptime-clock.js';

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

/** `{key: value}` from keys and the values in the same order (rates, percents). */
export function named(keys: readonly string[], values: readonly number[]): Record<string, number> {
  return Object.fromEntries(keys.map((key, i) => [key, values[i]!]));
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

/**
 * The instance of a collector of per-thing rates (per disk, per interface) from one /proc file: each
 * run parses the counters, turns them into rates against the previous run (uptime clock) and reports
 * `shape(rates)` under each thing's id.
 */
export function perThingRatesCollector(
  relative: string,
  parse: (text: string) => CounterSample,
  shape: (rates: readonly number[]) => CollectedValue,
): CollectorInstance {
  const tracker = new RateTracker();
  return {
    notEligibleReason: (paths) => missingProcFile(paths, relative, 'uptime'),
    collect: ({ paths }) => {
      const counters = parse(readText(procPath(paths, relative)));
      const out: CollectedData = {};
      for (const [id, rates] of tracker.next(readUptime(paths).seconds, counters)) out[id] = shape(rates);
      return out;
    },
  };
}
