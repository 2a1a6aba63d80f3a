// A set of the most recent ids, bounded: remembers the last `capacity` ids seen and forgets the
// oldest beyond that, so a flood of distinct ids costs a fixed amount of memory.

export class RecentIds {
  /** Insertion-ordered: the first entry is the oldest. */
  private readonly ids = new Set<string>();

  constructor(readonly capacity: number) {}

  get size(): number {
    return this.ids.size;
  }

  has(id: string): boolean {
    return this.ids.has(id);
  }

  /** Remembers `id`; returns false when it was already remembered. */
  add(id: string): boolean {
    if (this.ids.has(id)) return false;
    this.ids.add(id);
    if (this.ids.size > this.capacity) this.ids.delete(this.ids.values().next().value!);
    return true;
  }
}
