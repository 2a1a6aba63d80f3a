// The store on classic-level (LevelDB): one database in <data-dir>/store, namespaces as key
// prefixes, values through a codec. It also keeps the store usable after an I/O error: a write
// that fails (the disk full) may leave a torn record at the end of LevelDB's log, and LevelDB
// would go on appending after it, so that on the next open the log reader stops at the tear and
// drops every later write, acknowledged ones included. After such an error the database is closed
// and reopened before the next write (recovery sets the tear aside and starts a fresh log). While
// the disk stays full the reopen fails too, leaving the database closed: every operation then
// fails, and the reopen is tried again at most every `retryAfterFailureMs`.
import { ClassicLevel } from 'classic-level';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { JSON_CODEC, MSGPACK_CODEC, type ValueCodec } from './codec.js';
import { type StoreError, storeErrorOf } from './errors.js';
import { prefixRange } from './keys.js';
import type { KeyRange, Namespace, Store, WriteOp, WriteOptions } from './store.js';

/** The store's directory inside the data dir. */
export const STORE_DIR_NAME = 'store';

export interface StoreOptions {
  /** LevelDB's cache of uncompressed blocks (default 8 MiB). */
  cacheSizeBytes?: number;
  /** Writes buffered in memory before LevelDB writes a table file (default 4 MiB; two may exist at once). */
  writeBufferSizeBytes?: number;
  /** After a failed reopen, operations fail at once for this long before the next try (default 5 s). */
  retryAfterFailureMs?: number;
  /** The clock for that wait (tests inject one). */
  now?: () => number;
}

type Database = ClassicLevel<string, Uint8Array>;

/** An operation on the database's own keys (a namespace's prefix included), its value encoded. */
type RawOp = { type: 'put'; key: string; value: Uint8Array } | { type: 'del'; key: string };

/** Opens (creating it if needed) the store of the data dir `dataDir`, in `<dataDir>/store`. */
export async function openStore(dataDir: string, options: StoreOptions = {}): Promise<Store> {
  const location = join(dataDir, STORE_DIR_NAME);
  const db: Database = new ClassicLevel<string, Uint8Array>(location, {
    keyEncoding: 'utf8',
    valueEncoding: 'view',
    ...(options.cacheSizeBytes !== undefined && { cacheSize: options.cacheSizeBytes }),
    ...(options.writeBufferSizeBytes !== undefined && { writeBufferSize: options.writeBufferSizeBytes }),
  });
  try {
    await db.open();
  } catch (error) {
    throw storeErrorOf('open', location, error);
  }
  return new LevelStore(db, location, options.retryAfterFailureMs ?? 5_000, options.now ?? Date.now);
}

const NAMESPACE_NAME = /^[a-z][a-z0-9-]*$/;

/** Raw operations on the database, with the recovery described at the top of this file. */
class LevelStore implements Store {
  /** close() was called: nothing reopens the database any more. */
  private closed = false;
  /** A write failed with an I/O error: reopen before the next write. */
  private needsReopen = false;
  private reopening: Promise<void> | undefined;
  /** Why the last reopen failed, and when: what operations fail with until the next try. */
  private lastReopenFailure: { error: unknown; at: number } | undefined;
  /** Writes waiting for the one under way (see write()). */
  private queued: QueuedWrite[] = [];
  /** A drain is under way: it takes every write queued before it finds the queue empty. */
  private writing = false;
  /** The last drain (close() waits for it). */
  private draining: Promise<void> = Promise.resolve();

  constructor(
    private readonly db: Database,
    readonly location: string,
    private readonly retryAfterFailureMs: number,
    private readonly now: () => number,
  ) {}

  sublevel(name: string, options: { codec?: 'msgpack' | 'json' } = {}): Namespace {
    if (!NAMESPACE_NAME.test(name)) {
      throw new RangeError(
        `a store namespace is named with lowercase letters, digits and '-', not ${JSON.stringify(name)}`,
      );
    }
    return new LevelNamespace(name, this, options.codec === 'json' ? JSON_CODEC : MSGPACK_CODEC);
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    // A point read is a few microseconds on the calling thread (memtable, block cache, the OS's
    // page cache), against ~30 µs and a thread-pool hop (two context switches) through the async
    // path: measured as a sixth of a KV node's CPU under writes (docs/benchmarks.md). The async
    // path remains for a database that is closed or being reopened.
    if (this.db.status === 'open' && this.reopening === undefined && !this.closed) {
      try {
        return this.db.getSync(key);
      } catch (error) {
        throw storeErrorOf('read', this.location, error);
      }
    }
    return this.attempt('read', () => this.db.get(key));
  }

  /**
   * Group commit: a write waits while one is under way, and every write that queued meanwhile
   * goes in the next one, as one LevelDB batch (atomic: each caller's operations all or none),
   * fsync'd if any of them asked. Concurrent writers (KV replicas under load) then cost one
   * thread-pool hop and one fsync per batch, not each.
   */
  write(ops: RawOp[], options: WriteOptions): Promise<void> {
    return new Promise((resolve, reject) => {
      this.queued.push({ ops, sync: options.sync ?? false, resolve, reject });
      if (!this.writing) this.draining = this.drainWrites();
    });
  }

  private async drainWrites(): Promise<void> {
    // Cleared in the same turn the queue is found empty: a write queued later starts a new drain.
    this.writing = true;
    while (this.queued.length > 0) {
      const group = this.queued.splice(0, MAX_GROUPED_WRITES);
      const ops = group.length === 1 ? group[0]!.ops : group.flatMap((write) => write.ops);
      const sync = group.some((write) => write.sync);
      try {
        await this.attempt('write', () => this.writeBatch(ops, sync));
        for (const write of group) write.resolve();
      } catch (error) {
        for (const write of group) write.reject(error);
      }
    }
    this.writing = false;
  }

  /**
   * One LevelDB batch, built op by op (a chained batch): abstract-level's array form copies and
   * re-validates every operation first (a 10,000-series metrics flush took 210-300 ms of CPU that
   * way, 117-163 ms this way; docs/benchmarks.md).
   */
  private writeBatch(ops: RawOp[], sync: boolean): Promise<void> {
    const batch = this.db.batch();
    try {
      for (const op of ops) {
        if (op.type === 'put') batch.put(op.key, op.value);
        else batch.del(op.key);
      }
    } catch (error) {
      void batch.close();
      throw error;
    }
    return batch.write({ sync });
  }

  async *iterate(range: LevelRange, withValues: boolean): AsyncGenerator<[string, Uint8Array | undefined]> {
    await this.ready('read');
    try {
      for await (const entry of this.db.iterator({ ...range, values: withValues })) yield entry;
    } catch (error) {
      throw storeErrorOf('read', this.location, error);
    }
  }

  async backup(targetDir: string): Promise<{ entries: number }> {
    if (existsSync(targetDir)) {
      throw new Error(`the backup target ${targetDir} already exists: give a directory that does not`);
    }
    await this.ready('read');
    const copy: Database = new ClassicLevel<string, Uint8Array>(targetDir, {
      keyEncoding: 'utf8',
      valueEncoding: 'view',
      errorIfExists: true,
    });
    try {
      await copy.open();
    } catch (error) {
      throw storeErrorOf('open', targetDir, error);
    }
    let entries = 0;
    try {
      let batch = copy.batch();
      // The iterator reads one snapshot, taken now: the copy is the store at one instant.
      for await (const [key, value] of this.db.iterator()) {
        batch.put(key, value);
        entries += 1;
        if (batch.length >= BACKUP_BATCH_ENTRIES) {
          await batch.write();
          batch = copy.batch();
        }
      }
      // One fsync'd write at the end makes every batch before it durable too.
      await batch.write({ sync: true });
    } catch (error) {
      throw storeErrorOf('write', targetDir, error);
    } finally {
      await copy.close();
    }
    return { entries };
  }

  async close(): Promise<void> {
    // Writes already asked for are written (their callers were told nothing yet).
    await this.draining;
    this.closed = true;
    await this.reopening?.catch(() => undefined);
    await this.db.close();
  }

  /** Runs `operation` once the database is usable; an I/O error of a write schedules a reopen. */
  private async attempt<T>(kind: 'read' | 'write', operation: () => Promise<T>): Promise<T> {
    for (let tries = 1; ; tries++) {
      await this.ready(kind);
      try {
        return await operation();
      } catch (error) {
        const failure = storeErrorOf(kind, this.location, error);
        // A reopen started by another operation closed the database under this one: once more.
        if (failure.problem === 'closed' && !this.closed && tries === 1) continue;
        if (kind === 'write' && reopenHelps(failure)) this.needsReopen = true;
        throw failure;
      }
    }
  }

  /** Waits for the database to be open, reopening it after a failed write (see the top). */
  private async ready(kind: 'read' | 'write'): Promise<void> {
    if (this.closed) throw storeErrorOf(kind, this.location, closedError());
    // Reads go on from an open database (its memory is intact); a closed one is a failed reopen.
    const wanted = this.db.status === 'closed' || (kind === 'write' && this.needsReopen);
    if (!wanted && this.reopening === undefined) return;
    const failure = this.lastReopenFailure;
    if (this.reopening === undefined && failure && this.now() - failure.at < this.retryAfterFailureMs) {
      throw storeErrorOf(kind, this.location, failure.error);
    }
    this.reopening ??= this.reopen().finally(() => (this.reopening = undefined));
    try {
      await this.reopening;
    } catch (error) {
      throw storeErrorOf(kind, this.location, error);
    }
  }

  private async reopen(): Promise<void> {
    if (this.db.status !== 'closed') await this.db.close();
    if (this.closed) throw closedError();
    try {
      await this.db.open();
      this.needsReopen = false;
      this.lastReopenFailure = undefined;
    } catch (error) {
      this.lastReopenFailure = { error, at: this.now() };
      throw error;
    }
  }
}

const BACKUP_BATCH_ENTRIES = 1_000;
/** Writes one group commit takes at most (bounds one batch's size in LevelDB's log). */
const MAX_GROUPED_WRITES = 256;

interface QueuedWrite {
  ops: RawOp[];
  sync: boolean;
  resolve: () => void;
  reject: (error: unknown) => void;
}

/** Write failures after which the log may hold a torn record (not a lock, corruption or a stop). */
function reopenHelps(failure: StoreError): boolean {
  return failure.problem === 'disk-full' || failure.problem === 'io' || failure.problem === 'permission';
}

function closedError(): Error {
  return Object.assign(new Error('Database is not open'), { code: 'LEVEL_DATABASE_NOT_OPEN' });
}

interface LevelRange {
  gt?: string;
  gte?: string;
  lt?: string;
  lte?: string;
  reverse: boolean;
  limit: number;
}

/** A namespace: its keys are `!<name>!<key>` in the database. */
class LevelNamespace implements Namespace {
  private readonly prefix: string;
  private readonly whole: { gte: string; lt: string };

  constructor(
    readonly name: string,
    private readonly store: LevelStore,
    private readonly codec: ValueCodec,
  ) {
    this.prefix = `!${name}!`;
    this.whole = prefixRange(this.prefix);
  }

  async get<V>(key: string): Promise<V | undefined> {
    const bytes = await this.store.get(this.prefix + key);
    return bytes === undefined ? undefined : (this.codec.decode(bytes) as V);
  }

  write(ops: WriteOp[], options: WriteOptions = {}): Promise<void> {
    const encoded = ops.map((op): RawOp =>
      op.type === 'put'
        ? { type: 'put', key: this.prefix + op.key, value: this.codec.encode(op.value) }
        : { type: 'del', key: this.prefix + op.key },
    );
    return this.store.write(encoded, options);
  }

  put(key: string, value: unknown, options?: WriteOptions): Promise<void> {
    return this.write([{ type: 'put', key, value }], options);
  }

  del(key: string, options?: WriteOptions): Promise<void> {
    return this.write([{ type: 'del', key }], options);
  }

  async *entries<V>(range: KeyRange = {}): AsyncIterable<[string, V]> {
    for await (const [key, value] of this.store.iterate(this.levelRange(range), true)) {
      yield [key.slice(this.prefix.length), this.codec.decode(value!) as V];
    }
  }

  async *keys(range: KeyRange = {}): AsyncIterable<string> {
    for await (const [key] of this.store.iterate(this.levelRange(range), false)) {
      yield key.slice(this.prefix.length);
    }
  }

  /** `range` as bounds on the database's keys, never beyond this namespace. */
  private levelRange(range: KeyRange): LevelRange {
    const { prefix, order, limit, ...bounds } = range;
    const common = { reverse: order === 'descending', limit: limit ?? -1 };
    if (prefix !== undefined) {
      if (Object.values(bounds).some((bound) => bound !== undefined)) {
        throw new RangeError('a key range takes a prefix or bounds (gt, gte, lt, lte), not both');
      }
      return { ...prefixRange(this.prefix + prefix), ...common };
    }
    const level: LevelRange = { ...common };
    if (bounds.gt !== undefined) level.gt = this.prefix + bounds.gt;
    else level.gte = this.prefix + (bounds.gte ?? '');
    if (bounds.lt !== undefined) level.lt = this.prefix + bounds.lt;
    else if (bounds.lte !== undefined) level.lte = this.prefix + bounds.lte;
    else level.lt = this.whole.lt;
    return level;
  }
}
