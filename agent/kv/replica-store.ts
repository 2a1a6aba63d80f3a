// What one node holds of the KV store: its replicas' records in the store's `kv` namespace, each
// under `k:<key>`. A record is applied only if its version is newer than the one held (last writer
// wins, the same decision on every replica whatever the order records arrive in), one key at a
// time. A delete is a tombstone: a record without a value, newer than the value it hides, kept
// until collectTombstones() (after anti-entropy had time to spread it; otherwise a replica that
// missed the delete would bring the value back). A record past its TTL reads as absent.
import type { KeyRange, Namespace } from '../store/index.js';
import { KeyedSerial, prefixRange } from '../store/index.js';
import { compareVersions, type Version } from './hlc.js';

const RECORD_PREFIX = 'k:';
/** A key's Paxos state (paxos.ts): the ballot promised and the proposal accepted. */
const PAXOS_PREFIX = 'p:';

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
  /**
   * A compare-and-set's record: the ballot of the round that first proposed it. Its version is
   * the ballot under which it was chosen (a proposal finished by a later round takes that round's
   * ballot), so that last-writer-wins orders CAS records as Paxos decided them.
   */
  proposal?: Version;
}

/** One record applied to a key: its proposal (its version when it has none) and its version. */
export interface AppliedEntry {
  p: Version;
  v: Version;
}

export type ApplyOutcome = 'applied' | 'stale';

/** A record that reads as present at `now`: not a tombstone, not past its TTL. */
export function isLive(record: KvRecord, now: number): boolean {
  return !record.deleted && (record.expiresAt === undefined || record.expiresAt > now);
}

/** What a replica keeps of a key's compare-and-set rounds (docs/kv.md, Compare-and-set). */
export interface PaxosState {
  /** The highest ballot this replica promised for the key. */
  promised: Version;
  /** The last proposal it accepted: under which ballot, and the record. */
  accepted?: { ballot: Version; record: KvRecord };
  /**
   * The last records applied for the key (HISTORY_LENGTH): a proposer whose round was cut short
   * learns here whether its proposal was chosen, even once another CAS followed.
   */
  history?: AppliedEntry[];
}

/** Applied versions a key's Paxos state remembers. */
export const HISTORY_LENGTH = 64;

/** A replica's answer to a prepare: its promise (or the higher ballot it promised instead). */
export type PrepareAnswer =
  | {
      promised: true;
      record?: KvRecord;
      accepted?: { ballot: Version; record: KvRecord };
      history?: AppliedEntry[];
    }
  | { promised: false; higher: Version };

export class KvReplicaStore {
  private readonly serial = new KeyedSerial();
  private readonly listeners: Array<(key: string, record: KvRecord) => void> = [];

  constructor(
    private readonly namespace: Namespace,
    private readonly now: () => number = Date.now,
  ) {}

  /** Told of every record applied here (a change this node holds: watches, the kv-change event). */
  onApplied(listener: (key: string, record: KvRecord) => void): void {
    this.listeners.push(listener);
  }

  /** The record held for `key`, tombstone or expired included (replication compares them). */
  async record(key: string): Promise<KvRecord | undefined> {
    return this.namespace.get<KvRecord>(RECORD_PREFIX + key);
  }

  /** The live record of `key`: undefined when absent, deleted or expired. */
  async read(key: string): Promise<KvRecord | undefined> {
    const record = await this.record(key);
    return record && isLive(record, this.now()) ? record : undefined;
  }

  /**
   * Stores `record` if it is newer than what is held. `sync`: durable (fsync'd) before this
   * resolves, as a write is before it counts towards its acknowledgement.
   */
  apply(key: string, record: KvRecord, options: { sync?: boolean } = {}): Promise<ApplyOutcome> {
    return this.serial.run(key, async () => {
      const held = await this.record(key);
      if (held && compareVersions(record.version, held.version) <= 0) return 'stale';
      const sync = options.sync ?? true;
      // A compare-and-set's record is remembered with the key's Paxos state (its proposer looks
      // for it there); a plain write is not, and costs no second read.
      const state = record.proposal ? await this.namespace.get<PaxosState>(PAXOS_PREFIX + key) : undefined;
      if (!state) await this.namespace.put(RECORD_PREFIX + key, record, { sync });
      else {
        const entry = { p: record.proposal ?? record.version, v: record.version };
        const history = [...(state.history ?? []), entry].slice(-HISTORY_LENGTH);
        await this.namespace.write(
          [
            { type: 'put', key: RECORD_PREFIX + key, value: record },
            { type: 'put', key: PAXOS_PREFIX + key, value: { ...state, history } },
          ],
          { sync },
        );
      }
      for (const listener of this.listeners) listener(key, record);
      return 'applied';
    });
  }

  /**
   * Paxos phase 1 on this replica: promises `ballot` if it is above every ballot promised for the
   * key (durably: a restarted replica keeps its promises), and answers with the record held, the
   * last proposal it accepted and the records it applied last.
   */
  prepare(key: string, ballot: Version): Promise<PrepareAnswer> {
    return this.serial.run(key, async () => {
      const state = await this.namespace.get<PaxosState>(PAXOS_PREFIX + key);
      if (state && compareVersions(ballot, state.promised) <= 0)
        return { promised: false, higher: state.promised };
      await this.namespace.put(PAXOS_PREFIX + key, { ...state, promised: ballot }, { sync: true });
      const record = await this.record(key);
      const accepted = state?.accepted;
      return {
        promised: true,
        ...(record ? { record } : {}),
        ...(accepted ? { accepted } : {}),
        ...(state?.history ? { history: state.history } : {}),
      };
    });
  }

  /**
   * Paxos phase 2: accepts `record` under `ballot` unless a higher ballot was promised since
   * (durably). Returns the higher ballot when it refuses.
   */
  accept(
    key: string,
    ballot: Version,
    record: KvRecord,
  ): Promise<{ accepted: true } | { accepted: false; higher: Version }> {
    return this.serial.run(key, async () => {
      const state = await this.namespace.get<PaxosState>(PAXOS_PREFIX + key);
      if (state && compareVersions(ballot, state.promised) < 0)
        return { accepted: false, higher: state.promised };
      await this.namespace.put(
        PAXOS_PREFIX + key,
        { ...state, promised: ballot, accepted: { ballot, record } },
        { sync: true },
      );
      return { accepted: true };
    });
  }

  /** The key's Paxos state (handed over with the key when it changes owners). */
  paxos(key: string): Promise<PaxosState | undefined> {
    return this.namespace.get<PaxosState>(PAXOS_PREFIX + key);
  }

  /** Takes a key's Paxos state from its previous owner: keeps the higher promise and the newer acceptance. */
  mergePaxos(key: string, incoming: PaxosState): Promise<void> {
    return this.serial.run(key, async () => {
      const state = await this.namespace.get<PaxosState>(PAXOS_PREFIX + key);
      const promised =
        state && compareVersions(state.promised, incoming.promised) >= 0 ? state.promised : incoming.promised;
      const accepted =
        !state?.accepted ||
        (incoming.accepted && compareVersions(incoming.accepted.ballot, state.accepted.ballot) > 0)
          ? incoming.accepted
          : state.accepted;
      const history = [...(state?.history ?? []), ...(incoming.history ?? [])]
        .sort((a, b) => compareVersions(a.v, b.v))
        .filter((entry, at, all) => at === 0 || compareVersions(all[at - 1]!.v, entry.v) !== 0)
        .slice(-HISTORY_LENGTH);
      await this.namespace.put(
        PAXOS_PREFIX + key,
        { promised, ...(accepted ? { accepted } : {}), ...(history.length ? { history } : {}) },
        { sync: true },
      );
    });
  }

  /**
   * Every record held whose key starts with `prefix` (and comes after `after`, when given), in
   * key order, tombstones and expired ones included.
   */
  async *records(prefix = '', after?: string): AsyncIterable<[string, KvRecord]> {
    const range: KeyRange =
      after === undefined
        ? { prefix: RECORD_PREFIX + prefix }
        : { gt: RECORD_PREFIX + after, lt: prefixRange(RECORD_PREFIX + prefix).lt };
    for await (const [stored, record] of this.namespace.entries<KvRecord>(range)) {
      yield [stored.slice(RECORD_PREFIX.length), record];
    }
  }

  /**
   * Forgets a key this node no longer replicates (handed to its new owners), unless it changed
   * since `version` was handed over.
   */
  forget(key: string, version: Version): Promise<boolean> {
    return this.serial.run(key, async () => {
      const held = await this.record(key);
      if (!held || compareVersions(held.version, version) !== 0) return false;
      await this.namespace.write([
        { type: 'del', key: RECORD_PREFIX + key },
        { type: 'del', key: PAXOS_PREFIX + key },
      ]);
      return true;
    });
  }

  /** The live records whose keys start with `prefix`, in key order. */
  async *list(prefix = '', limit?: number): AsyncIterable<[string, KvRecord]> {
    const range: KeyRange = { prefix: RECORD_PREFIX + prefix };
    let count = 0;
    for await (const [stored, record] of this.namespace.entries<KvRecord>(range)) {
      if (!isLive(record, this.now())) continue;
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
        await this.namespace.write([
          { type: 'del', key: stored },
          { type: 'del', key: PAXOS_PREFIX + key },
        ]);
        return true;
      });
      if (gone) removed++;
    }
    return removed;
  }
}
