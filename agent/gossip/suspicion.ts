// Lifeguard's suspicion timer: a suspected member is declared dead when the timer runs out. It
// starts at `maxMs` and shrinks toward `minMs` as independent members confirm the suspicion, so
// a truly dead node is declared fast while a node suspected by one slow prober gets time to refute.

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
  private readonly startedAt = Date.now();
  private timer: NodeJS.Timeout;

  constructor(
    /** The member that first raised the suspicion (does not count as a confirmation). */
    from: string,
    private readonly expected: number,
    private readonly minMs: number,
    private readonly maxMs: number,
    private readonly onTimeout: () => void,
  ) {
    this.confirmedBy.add(from);
    this.timer = setTimeout(onTimeout, expected > 0 ? maxMs : minMs);
    this.timer.unref();
  }

  /** Counts an independent confirmation; returns true when it was new (and should be re-gossiped). */
  confirm(from: string): boolean {
    if (this.confirmedBy.size - 1 >= this.expected || this.confirmedBy.has(from)) return false;
    this.confirmedBy.add(from);
    clearTimeout(this.timer);
    const remainingMs = remainingSuspicionTime(
      this.confirmedBy.size - 1,
      this.expected,
      Date.now() - this.startedAt,
      this.minMs,
      this.maxMs,
    );
    this.timer = setTimeout(this.onTimeout, Math.max(0, remainingMs));
    this.timer.unref();
    return true;
  }

  cancel(): void {
    clearTimeout(this.timer);
  }
}
