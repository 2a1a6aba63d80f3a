// Lifeguard's local health awareness: a node that misses acks and nacks is more likely the slow
// one (overloaded, paused, a bad link) than everyone else, so it stretches its own probe interval
// and timeouts instead of accusing others.

export class Awareness {
  private score = 0;

  constructor(private readonly maxScore: number) {}

  /** +1 after a failed probe with missing nacks or a needed refutation, -1 after a good probe. */
  apply(delta: number): void {
    this.score = Math.min(this.maxScore, Math.max(0, this.score + delta));
  }

  get health(): number {
    return this.score;
  }

  scale(timeoutMs: number): number {
    return timeoutMs * (this.score + 1);
  }
}
