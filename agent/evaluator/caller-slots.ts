// A bound on the evaluations one caller may have in flight at once (the eval route keys it by the
// API principal). Evaluations are cheap until they reach files, lookups or regexps; a caller that
// fires hundreds at once would otherwise fill every queue behind them and crowd out the others and
// the agent's own detectors. The excess is refused at once (HTTP 429), not queued.

export class CallerSlots {
  /** Callers with evaluations in flight, and how many; a caller leaves the map at zero. */
  private readonly inFlight = new Map<string, number>();

  constructor(
    /** The bound, read at each call so that a reload applies. */
    private readonly limit: () => number,
  ) {}

  /** A release function when `caller` is under the bound (call it exactly once), else undefined. */
  tryAcquire(caller: string): (() => void) | undefined {
    const count = this.inFlight.get(caller) ?? 0;
    if (count >= this.limit()) return undefined;
    this.inFlight.set(caller, count + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const remaining = (this.inFlight.get(caller) ?? 1) - 1;
      if (remaining > 0) this.inFlight.set(caller, remaining);
      else this.inFlight.delete(caller);
    };
  }

  /** Evaluations in flight for `caller`. */
  count(caller: string): number {
    return this.inFlight.get(caller) ?? 0;
  }
}
