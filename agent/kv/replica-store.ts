// What one node holds of the KV store: its replicas' records in the store's `kv` namespace, each
// under `k:<key>`. A record is applied only if its version is newer than the one held (last writer
// wins, the same decision on every replica whatever the order records arrive in), one key at a
// time. A delete is a tombstone: a record without a value, newer than the value it hides, kept
// until collectTombstones() (after anti-entropy had time to spread it; otherwise a replica that
// missed the delete would bring the value back). A record past its TTL reads as absent.
import type { KeyRange, Namespace } from '../store/index.js';
import { KeyedSerial } from '../store/index.js';
import { compareVersions, type Version } from './hlc.js';

const RECORD_PREFIX = 'k:';

export interface KvRecord {
  /** The value's bytes (empty in a tombstone). */
  value: Uint8Array;
  /** An opaque 64-bit-safe number clients set (Consul's Flags). */
  flags: number;
  version: Version;
  /** The index of the write that created the key (Consul's CreateIndex). */
  createIndex: number;
  /** A tombstone: the key was deleted by this version. */
  deleted?: boolean;
  /** ms since the epoch after which the record reads as absent (a TTL). */
  expiresAt?: number;
}

export type ApplyOutcome = 'applied' | 'stale';

export class KvReplicaStore {
  private readonly serial = new KeyedSerial();

  constructor(
    private readonly namespace: Namespace,
    private readonly now: () => number = Date.now,
  ) {}

  /** The record held for `key`, tombstone or expired included (replication compares them). */
  async record(key: string): Promise<KvRecord | undefined> {
    return this.namespace.get<KvRecord>(RECORD_PREFIX + key);
  }

  /** The live record of `key`: undefined when absent, deleted or expired. */
  async read(key: string): Promise<KvRecord | undefined> {
    const record = await this.record(key);
    return record && this.live(record) ? record : undefined;
  }

  /**
   * Stores `record` if it is newer than what is held. `sync`: durable (fsync'd) before this
   * resolves, as a write is before it counts towards its acknowledgement.
   */
  apply(key: string, record: KvRecord, options: { sync?: boolean } = {}): Promise<ApplyOutcome> {
    return this.serial.run(key, async () => {
      const held = await this.record(key);
      if (held && compareVersions(record.version, held.version) <= 0) return 'stale';
      await this.namespace.put(RECORD_PREFIX + key, record, { sync: options.sync ?? true });
      return 'applied';
    });
  }

  /** The live records whose keys start with `prefix`, in key order. */
  async *list(prefix = '', limit?: number): AsyncIterable<[string, KvRecord]> {
    const range: KeyRange = { prefix: RECORD_PREFIX + prefix };
    let count = 0;
    for await (const [stored, record] of this.namespace.entries<KvRecord>(range)) {
      if (!this.live(record)) continue;
      yield [stored.slice(RECORD_PREFIX.length), record];
      if (limit !== undefined && ++count >= limit) return;
    }
  }

  /**
   * Removes tombstones and expired records whose version is older than `olderThanMs` ago;
   * returns how many went. Run after anti-entropy has had that long to spread the deletes.
   */
  async collectTombstones(olderThanMs: number): Promise<number> {
    const before = this.now() - olderThanMs;
    let removed = 0;
    for await (const [stored, record] of this.namespace.entries<KvRecord>({ prefix: RECORD_PREFIX })) {
      const dead = record.deleted || (record.expiresAt !== undefined && record.expiresAt <= this.now());
      if (!dead || record.version.wall > before) continue;
      const key = stored.slice(RECORD_PREFIX.length);
      // Only if it is still the same record (a newer write may have come meanwhile).
      const gone = await this.serial.run(key, async () => {
        const held = await this.record(key);
        if (!held || compareVersions(held.version, record.version) !== 0) return false;
        await this.namespace.del(stored);
        return true;
      });
      if (gone) removed++;
    }
    return removed;
  }

  private live(record: KvRecord): boolean {
    return !record.deleted && (record.expiresAt === undefined || record.expiresAt > this.now());
  }
}
