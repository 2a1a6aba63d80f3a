// Blocking queries on one node: a wait for a record under a prefix (or one key) whose index passes
// the one the client last saw. Registered before the store is looked at, so a write landing in
// between is not missed; woken by the replica store's applies. Each wait holds a timer and a
// closure, no more; the HTTP side bounds how long a wait lasts.
import { indexOf } from './hlc.js';
import type { KvRecord, KvReplicaStore } from './replica-store.js';

/** A change a wait saw; a one-key wait's carries the key's record that ended it. */
export interface ChangeSeen {
  record?: KvRecord;
}

interface Waiter {
  prefix: string;
  exact: boolean;
  index: number;
  wake: (record: KvRecord | undefined) => void;
}

export class ChangeWaiters {
  private readonly waiting = new Set<Waiter>();

  constructor(private readonly store: KvReplicaStore) {
    store.onApplied((key, record) => this.applied(key, record));
  }

  /** Waits in progress (stats; tests: none left behind). */
  get size(): number {
    return this.waiting.size;
  }

  /**
   * The change once a record held here under `prefix` (the key itself when `exact`) has an index
   * above `index`, at once if one already has; undefined after `timeoutMs` or when `signal` aborts.
   * A one-key wait's change carries that record, so its caller reads nothing again.
   */
  async wait(
    prefix: string,
    exact: boolean,
    index: number,
    timeoutMs: number,
    signal?: AbortSignal,
  ): Promise<ChangeSeen | undefined> {
    if (signal?.aborted) return undefined;
    let waiter!: Waiter;
    const woken = new Promise<ChangeSeen | undefined>((resolve) => {
      const timer = setTimeout(() => finish(undefined), timeoutMs);
      const finish = (seen: ChangeSeen | undefined) => {
        clearTimeout(timer);
        this.waiting.delete(waiter);
        signal?.removeEventListener('abort', aborted);
        resolve(seen);
      };
      const aborted = () => finish(undefined);
      waiter = { prefix, exact, index, wake: (record) => finish(exact && record ? { record } : {}) };
      signal?.addEventListener('abort', aborted, { once: true });
    });
    this.waiting.add(waiter);
    if (exact) {
      const record = await this.store.record(prefix);
      if (record && indexOf(record.version) > index) waiter.wake(record);
    } else if ((await this.highestIndex(prefix, false)) > index) waiter.wake(undefined);
    return woken;
  }

  /** The highest index of the records held here under `prefix` (tombstones count: a delete is a change). */
  async highestIndex(prefix: string, exact: boolean): Promise<number> {
    if (exact) {
      const record = await this.store.record(prefix);
      return record ? indexOf(record.version) : 0;
    }
    let highest = 0;
    for await (const [, record] of this.store.records(prefix))
      highest = Math.max(highest, indexOf(record.version));
    return highest;
  }

  private applied(key: string, record: KvRecord): void {
    const index = indexOf(record.version);
    for (const waiter of this.waiting) {
      if (index <= waiter.index) continue;
      if (waiter.exact ? key === waiter.prefix : key.startsWith(waiter.prefix)) waiter.wake(record);
    }
  }
}
