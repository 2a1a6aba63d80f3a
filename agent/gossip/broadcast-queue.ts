// Messages waiting to ride on outgoing packets (piggyback). Each is sent a bounded number of times,
// about retransmitMultiplier * log10(N+1), fewest-sent first, so news reaches everyone in O(log N)
// rounds without flooding. A newer message about a node replaces the older one still queued.

interface Queued {
  /** Messages with the same key invalidate each other (e.g. "node:<id>"). */
  key: string;
  bytes: Uint8Array;
  transmits: number;
  /** Insertion order, to send older news first among equals. */
  order: number;
  /** Lower first: membership news before check deltas (`BULK`). */
  priority: number;
}

/**
 * The priority of news that may wait (check deltas): membership news rides first. A 50-agent
 * formation with 200 checks each, under a burst of deltas (each check's first result a change),
 * took 24 s or 77 s, two runs each, the slow ones with agents lacking members until a push-pull;
 * with membership first, four runs took 25-30 s (docs/benchmarks.md; the bench still shows such a
 * tail, so this is not all of it).
 */
export const BULK = 1;

/**
 * Messages queued at most. One per member ("node:<id>") plus key ops: past this, news arrives
 * faster than packets carry it, and the message sent most (the one most nodes have) is dropped.
 */
export const MAX_QUEUED = 4096;

/** Which of two messages to drop first past the bound: bulk news, then the most sent, then the oldest. */
function dropBefore(a: Queued, b: Queued): boolean {
  return (b.priority - a.priority || b.transmits - a.transmits || a.order - b.order) < 0;
}

export class BroadcastQueue {
  private items: Queued[] = [];
  private counter = 0;

  constructor(
    private readonly retransmitMultiplier: number,
    private readonly clusterSize: () => number,
    private readonly maxItems = MAX_QUEUED,
  ) {}

  get length(): number {
    return this.items.length;
  }

  enqueue(key: string, bytes: Uint8Array, priority = 0): void {
    this.items = this.items.filter((item) => item.key !== key);
    this.items.push({ key, bytes, transmits: 0, order: this.counter++, priority });
    if (this.items.length > this.maxItems) {
      let spread = 0;
      for (let index = 1; index < this.items.length; index++) {
        const item = this.items[index]!;
        const most = this.items[spread]!;
        if (dropBefore(item, most)) spread = index;
      }
      this.items.splice(spread, 1);
    }
  }

  /** Takes messages that fit in `budgetBytes` (each costing its size + `perMessageBytes`). */
  take(budgetBytes: number, perMessageBytes: number): Uint8Array[] {
    if (!this.items.length) return [];
    const limit = this.retransmitLimit();
    this.items.sort((a, b) => a.priority - b.priority || a.transmits - b.transmits || a.order - b.order);
    const taken: Uint8Array[] = [];
    let remaining = budgetBytes;
    for (const item of this.items) {
      const cost = item.bytes.length + perMessageBytes;
      if (cost > remaining) continue;
      remaining -= cost;
      taken.push(item.bytes);
      item.transmits++;
    }
    this.items = this.items.filter((item) => item.transmits < limit);
    return taken;
  }

  retransmitLimit(): number {
    return this.retransmitMultiplier * Math.ceil(Math.log10(this.clusterSize() + 1));
  }
}
