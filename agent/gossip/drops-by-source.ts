// Dropped packets by source address, for diagnostics: a join that gets no answer asks whether the
// target's address sent packets this node could not open (another key, no key, a key while we have
// none). Bounded: a flood of sources (spoofed addresses) costs a fixed amount of memory.
import type { DropReason } from '../shared/api-types.js';

/** When each kind of drop last happened for one source (ms, the engine's clock). */
type LastDrops = Partial<Record<DropReason, number>>;

export class DropsBySource {
  /** `address:port` -> last drop per reason; insertion-ordered, the least recent source first. */
  private readonly sources = new Map<string, LastDrops>();

  constructor(readonly capacity: number) {}

  record(reason: DropReason, from: { address: string; port: number }, now: number): void {
    const key = `${from.address}:${from.port}`;
    const last = this.sources.get(key) ?? {};
    // Re-inserted: the most recent source goes last, and the oldest is forgotten first.
    this.sources.delete(key);
    last[reason] = now;
    this.sources.set(key, last);
    if (this.sources.size > this.capacity) this.sources.delete(this.sources.keys().next().value!);
  }

  /** The reasons of drops from `from` at or after `since`, most recent first. */
  since(from: { address: string; port: number }, since: number): DropReason[] {
    const last = this.sources.get(`${from.address}:${from.port}`) ?? {};
    return (Object.entries(last) as Array<[DropReason, number]>)
      .filter(([, at]) => at >= since)
      .sort(([, a], [, b]) => b - a)
      .map(([reason]) => reason);
  }
}
