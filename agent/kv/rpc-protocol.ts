// KV between nodes, over the cluster RPC (`/opsbro/kv/2.0.0`). Two kinds of request: a replica's
// own operations on what it holds (apply, read, prepare, accept, list, state of a key), and a
// node's services to the others (a client operation forwarded to a key's coordinator, a blocking
// wait, the digests of anti-entropy). Requests come only from cluster members (the RPC's private
// network and Noise), yet every field is checked before it reaches the store: a bug or a bad
// version on one member must not write garbage into another's. Versions feed the replica's clock.
import { decode, encode } from '@msgpack/msgpack';
import type { RpcHandler } from '../rpc/index.js';
import { MAX_DRIFT_MS, type HybridClock, type Version } from './hlc.js';
import type { ReplicaTransport } from './coordinator.js';
import type { AppliedEntry, KvRecord, KvReplicaStore, PaxosState, PrepareAnswer } from './replica-store.js';
import type { ChangeSeen } from './waiters.js';

export const KV_PROTOCOL = '/opsbro/kv/2.0.0';
/** The longest key (bytes of UTF-8). */
export const MAX_KEY_BYTES = 1024;
/** The largest value (issue 14's default limit). */
export const MAX_VALUE_BYTES = 512 * 1024;
/** Node ids are UUIDs; anything far longer is not one. */
const MAX_NODE_ID_CHARS = 128;
/** Entries one list page carries at most (a page also stops past LIST_PAGE_BYTES of values). */
export const LIST_PAGE_ENTRIES = 1000;
export const LIST_PAGE_BYTES = 2 * 1024 * 1024;
/** The longest a blocking wait may last (Consul's limit too). */
export const MAX_WAIT_MS = 10 * 60_000;

/** A client's operation, as the node that took it forwards it to a key's coordinator. */
export type KvAction =
  | { action: 'get'; key: string; consistent: boolean }
  | { action: 'put'; key: string; value: Uint8Array; flags: number; ttlMs?: number; cas?: number }
  | { action: 'delete'; key: string; cas?: number };

/** Its outcome: `ok` false for a CAS whose index did not match; `record` for a get (null: absent). */
export interface KvActionResult {
  ok: boolean;
  index: number;
  record?: KvRecord | null;
}

export type KvRequest =
  | { op: 'apply'; key: string; record: KvRecord }
  | { op: 'read'; key: string }
  | { op: 'prepare'; key: string; ballot: Version }
  | { op: 'accept'; key: string; ballot: Version; record: KvRecord }
  | { op: 'paxos'; key: string }
  | { op: 'paxos-merge'; key: string; state: PaxosState }
  | { op: 'list'; prefix: string; after?: string; keysOnly: boolean }
  | { op: 'coordinate'; request: KvAction }
  | { op: 'wait'; prefix: string; exact: boolean; index: number; timeoutMs: number }
  | { op: 'digest'; from: string; ring: string; buckets: number[] }
  | { op: 'versions'; from: string; ring: string; buckets: number[] }
  | { op: 'batch'; items: BatchItem[] };

/** What a batch carries: a coordinator's applies and reads to one replica, gathered in one turn. */
export type BatchItem = { op: 'apply'; key: string; record: KvRecord } | { op: 'read'; key: string };

/** Items one batch carries at most (a batch is also sent once a turn ends). */
export const MAX_BATCH_ITEMS = 256;

/** One page of a listing: records in key order; `next` is the key to list after, if more follow. */
export interface ListPage {
  entries: Array<[string, KvRecord]>;
  next?: string;
}

/** A request or a record that does not hold what KV expects. */
export class KvProtocolError extends Error {}

export function encodeKvRequest(request: KvRequest): Uint8Array {
  return encode(request);
}

export function decodeKvRequest(bytes: Uint8Array): KvRequest {
  let raw: unknown;
  try {
    raw = decode(bytes);
  } catch (error) {
    throw new KvProtocolError(`not a KV request: ${error instanceof Error ? error.message : String(error)}`);
  }
  return checkedRequest(raw);
}

function checkedRequest(raw: unknown): KvRequest {
  if (!isObject(raw)) throw new KvProtocolError('not a KV request: not a map');
  switch (raw.op) {
    case 'batch': {
      if (!Array.isArray(raw.items) || raw.items.length === 0 || raw.items.length > MAX_BATCH_ITEMS)
        throw new KvProtocolError(`a batch holds 1 to ${MAX_BATCH_ITEMS} items`);
      const items = raw.items.map((item: unknown): BatchItem => {
        const checked = checkedRequest(item);
        if (checked.op !== 'apply' && checked.op !== 'read')
          throw new KvProtocolError('a batch holds applies and reads only');
        return checked;
      });
      return { op: 'batch', items };
    }
    case 'read':
    case 'paxos':
      return { op: raw.op, key: checkedKey(raw.key) };
    case 'apply':
      return { op: 'apply', key: checkedKey(raw.key), record: checkedRecord(raw.record) };
    case 'paxos-merge': {
      const state = checkedPaxosState(raw.state);
      if (!state) throw new KvProtocolError('paxos-merge needs a state');
      return { op: 'paxos-merge', key: checkedKey(raw.key), state };
    }
    case 'prepare':
      return { op: 'prepare', key: checkedKey(raw.key), ballot: checkedVersion(raw.ballot) };
    case 'accept':
      return {
        op: 'accept',
        key: checkedKey(raw.key),
        ballot: checkedVersion(raw.ballot),
        record: checkedRecord(raw.record),
      };
    case 'list':
      return {
        op: 'list',
        prefix: checkedPrefix(raw.prefix),
        ...(raw.after !== undefined ? { after: checkedKey(raw.after) } : {}),
        keysOnly: raw.keysOnly === true,
      };
    case 'coordinate':
      return { op: 'coordinate', request: checkedAction(raw.request) };
    case 'wait':
      return {
        op: 'wait',
        prefix: checkedPrefix(raw.prefix),
        exact: raw.exact === true,
        index: checkedIndex(raw.index, 'index'),
        timeoutMs: Math.min(checkedIndex(raw.timeoutMs, 'timeoutMs'), MAX_WAIT_MS),
      };
    case 'digest':
    case 'versions':
      return {
        op: raw.op,
        from: checkedNode(raw.from),
        ring: checkedString(raw.ring, 'ring', 64),
        buckets: checkedBuckets(raw.buckets, raw.op === 'digest'),
      };
    default:
      throw new KvProtocolError(`unknown KV operation ${JSON.stringify(raw.op)}`);
  }
}

/** What a node serves beyond its replica's own operations (KvService). */
export interface KvNodeServices {
  coordinate(action: KvAction): Promise<KvActionResult>;
  /** The change once a record under `prefix` (the key itself when `exact`) passes `index` (waiters.ts). */
  wait(prefix: string, exact: boolean, index: number, timeoutMs: number): Promise<ChangeSeen | undefined>;
  /** Anti-entropy (anti-entropy.ts): this node's digests of the buckets it shares with `from`. */
  digest(from: string, ring: string, buckets: number[]): Promise<number[] | 'other-ring'>;
  /** The keys and versions of those buckets. */
  versions(from: string, ring: string, buckets: number[]): Promise<Array<[string, Version]> | 'other-ring'>;
}

/** The replica's side: serves the others' requests on this node's store and services. */
export function kvRpcHandler(
  store: KvReplicaStore,
  clock: HybridClock,
  services?: KvNodeServices,
): RpcHandler {
  const observed = (version: Version) => {
    // A version from further ahead than the drift bound would pin the key in the future.
    if (!clock.observe(version))
      throw new KvProtocolError(`a version more than ${MAX_DRIFT_MS / 1000} s ahead of this node's clock`);
  };
  const needServices = (): KvNodeServices => {
    if (!services) throw new KvProtocolError('this node serves no KV requests of that kind');
    return services;
  };
  const one = async (item: BatchItem): Promise<Record<string, unknown>> => {
    if (item.op === 'read') return { record: (await store.record(item.key)) ?? null };
    observed(item.record.version);
    return { outcome: await store.apply(item.key, item.record) };
  };
  return async (bytes) => {
    const asked = decodeKvRequest(bytes);
    switch (asked.op) {
      case 'batch':
        // Each item on its own: one that fails (a version from the future) fails alone.
        return encode({
          results: await Promise.all(
            asked.items.map((item) =>
              one(item).catch((error: unknown) => ({
                error: error instanceof Error ? error.message : String(error),
              })),
            ),
          ),
        });
      case 'read':
        return encode({ record: (await store.record(asked.key)) ?? null });
      case 'apply':
        observed(asked.record.version);
        return encode({ outcome: await store.apply(asked.key, asked.record) });
      case 'prepare':
        observed(asked.ballot);
        return encode(await store.prepare(asked.key, asked.ballot));
      case 'accept':
        observed(asked.ballot);
        observed(asked.record.version);
        return encode(await store.accept(asked.key, asked.ballot, asked.record));
      case 'paxos':
        return encode({ state: (await store.paxos(asked.key)) ?? null });
      case 'paxos-merge':
        observed(asked.state.promised);
        await store.mergePaxos(asked.key, asked.state);
        return encode({ merged: true });
      case 'list':
        return encode(await listPage(store, asked.prefix, asked.after, asked.keysOnly));
      case 'coordinate':
        if (asked.request.action === 'put' && asked.request.ttlMs !== undefined && asked.request.ttlMs < 0)
          throw new KvProtocolError('ttlMs must not be negative');
        return encode(await needServices().coordinate(asked.request));
      case 'wait': {
        // A one-key wait also gets the record that ended it: the first replica to apply a write
        // may be the only one holding it yet (the write's quorum is still on its way), so the
        // asker's read could miss it.
        const seen = await needServices().wait(asked.prefix, asked.exact, asked.index, asked.timeoutMs);
        return encode(seen ? { changed: true, ...seen } : { changed: false });
      }
      case 'digest':
        return encode({ digests: await needServices().digest(asked.from, asked.ring, asked.buckets) });
      case 'versions':
        return encode({ versions: await needServices().versions(asked.from, asked.ring, asked.buckets) });
    }
  };
}

/** One page of this node's records under `prefix`, tombstones included, after the key `after`. */
export async function listPage(
  store: KvReplicaStore,
  prefix: string,
  after: string | undefined,
  keysOnly: boolean,
): Promise<ListPage> {
  const entries: Array<[string, KvRecord]> = [];
  let bytes = 0;
  for await (const [key, record] of store.records(prefix, after)) {
    if (entries.length >= LIST_PAGE_ENTRIES || bytes > LIST_PAGE_BYTES)
      return { entries, next: entries.at(-1)![0] };
    entries.push([key, keysOnly ? { ...record, value: new Uint8Array(0) } : record]);
    bytes += key.length + (keysOnly ? 0 : record.value.length) + 64;
  }
  return { entries };
}

/**
 * The coordinator's side: this node's own store directly, the others over the RPC
 * (`request` sends KV_PROTOCOL's bytes to a member by id). The applies and reads for one replica
 * made within one event-loop turn go in one request (a batch): under load, one RPC carries many
 * clients' writes, instead of a stream per write.
 */
export function rpcReplicaTransport(options: {
  self: string;
  local: KvReplicaStore;
  request: (node: string, payload: Uint8Array) => Promise<Uint8Array>;
}): ReplicaTransport {
  const ask = async (node: string, request: KvRequest): Promise<Record<string, unknown>> => {
    const reply = decode(await options.request(node, encodeKvRequest(request)));
    if (!isObject(reply)) throw new KvProtocolError(`${node} answered ${request.op} with no map`);
    return reply;
  };
  const batches = new ReplicaBatches(ask);
  return {
    apply: async (node, key, record) => {
      if (node === options.self) return options.local.apply(key, record);
      const reply = await batches.send(node, { op: 'apply', key, record });
      if (reply.outcome !== 'applied' && reply.outcome !== 'stale') {
        throw new KvProtocolError(`${node} answered an apply with no outcome`);
      }
      return reply.outcome;
    },
    read: async (node, key) => {
      if (node === options.self) return options.local.record(key);
      const reply = await batches.send(node, { op: 'read', key });
      if (!('record' in reply)) throw new KvProtocolError(`${node} answered a read with no record`);
      return reply.record === null ? undefined : checkedRecord(reply.record);
    },
    prepare: async (node, key, ballot) => {
      if (node === options.self) return options.local.prepare(key, ballot);
      return checkedPrepareAnswer(await ask(node, { op: 'prepare', key, ballot }));
    },
    accept: async (node, key, ballot, record) => {
      if (node === options.self) return options.local.accept(key, ballot, record);
      const reply = await ask(node, { op: 'accept', key, ballot, record });
      if (reply.accepted === true) return { accepted: true };
      return { accepted: false, higher: checkedVersion(reply.higher) };
    },
  };
}

/** Applies and reads waiting for the end of the turn, per replica; then one request each. */
class ReplicaBatches {
  private readonly pending = new Map<
    string,
    Array<{
      item: BatchItem;
      resolve: (reply: Record<string, unknown>) => void;
      reject: (error: unknown) => void;
    }>
  >();

  constructor(private readonly ask: (node: string, request: KvRequest) => Promise<Record<string, unknown>>) {}

  send(node: string, item: BatchItem): Promise<Record<string, unknown>> {
    return new Promise((resolve, reject) => {
      let queue = this.pending.get(node);
      if (!queue) {
        this.pending.set(node, (queue = []));
        setImmediate(() => this.flush(node));
      }
      queue.push({ item, resolve, reject });
      if (queue.length >= MAX_BATCH_ITEMS) this.flush(node);
    });
  }

  private flush(node: string): void {
    const queue = this.pending.get(node);
    if (!queue?.length) return;
    this.pending.delete(node);
    // One item: the plain request (no batch to unwrap).
    if (queue.length === 1) {
      const [only] = queue;
      return void this.ask(node, only!.item).then(only!.resolve, only!.reject);
    }
    this.ask(node, { op: 'batch', items: queue.map((entry) => entry.item) }).then(
      (reply) => {
        const results = Array.isArray(reply.results) ? (reply.results as unknown[]) : [];
        queue.forEach((entry, at) => {
          const result = results[at];
          if (!isObject(result))
            return entry.reject(new KvProtocolError(`${node} answered a batch without item ${at}`));
          if (typeof result.error === 'string')
            return entry.reject(new KvProtocolError(`${node}: ${result.error}`));
          entry.resolve(result);
        });
      },
      (error: unknown) => queue.forEach((entry) => entry.reject(error)),
    );
  }
}

export function checkedActionResult(value: unknown): KvActionResult {
  if (!isObject(value) || typeof value.ok !== 'boolean') throw new KvProtocolError('not a KV result');
  return {
    ok: value.ok,
    index: checkedIndex(value.index, 'index'),
    ...(value.record === null ? { record: null } : {}),
    ...(value.record !== undefined && value.record !== null ? { record: checkedRecord(value.record) } : {}),
  };
}

/** A holder's answer to a wait: the change it saw, or undefined when nothing changed in time. */
export function checkedWaitReply(value: unknown): ChangeSeen | undefined {
  if (!isObject(value)) throw new KvProtocolError('not a wait reply');
  if (value.changed !== true) return undefined;
  return value.record !== undefined ? { record: checkedRecord(value.record) } : {};
}

export function checkedListPage(value: unknown): ListPage {
  if (!isObject(value) || !Array.isArray(value.entries)) throw new KvProtocolError('not a list page');
  const entries = value.entries.map((entry: unknown): [string, KvRecord] => {
    if (!Array.isArray(entry) || entry.length !== 2) throw new KvProtocolError('a list entry is not a pair');
    return [checkedKey(entry[0]), checkedRecord(entry[1])];
  });
  return { entries, ...(value.next !== undefined ? { next: checkedKey(value.next) } : {}) };
}

export function checkedPaxosState(value: unknown): PaxosState | undefined {
  if (value === null || value === undefined) return undefined;
  if (!isObject(value)) throw new KvProtocolError('not a Paxos state');
  return {
    promised: checkedVersion(value.promised),
    ...(isObject(value.accepted)
      ? {
          accepted: {
            ballot: checkedVersion(value.accepted.ballot),
            record: checkedRecord(value.accepted.record),
          },
        }
      : {}),
    ...(Array.isArray(value.history) ? { history: value.history.map(checkedAppliedEntry) } : {}),
  };
}

export function checkedVersionList(value: unknown): Array<[string, Version]> {
  if (!Array.isArray(value)) throw new KvProtocolError('not a version list');
  return value.map((entry: unknown): [string, Version] => {
    if (!Array.isArray(entry) || entry.length !== 2)
      throw new KvProtocolError('a version entry is not a pair');
    return [checkedKey(entry[0]), checkedVersion(entry[1])];
  });
}

function checkedPrepareAnswer(reply: Record<string, unknown>): PrepareAnswer {
  if (reply.promised !== true) return { promised: false, higher: checkedVersion(reply.higher) };
  const accepted = isObject(reply.accepted)
    ? { ballot: checkedVersion(reply.accepted.ballot), record: checkedRecord(reply.accepted.record) }
    : undefined;
  return {
    promised: true,
    ...(reply.record !== undefined ? { record: checkedRecord(reply.record) } : {}),
    ...(accepted ? { accepted } : {}),
    ...(Array.isArray(reply.history) ? { history: reply.history.map(checkedAppliedEntry) } : {}),
  };
}

function checkedAppliedEntry(value: unknown): AppliedEntry {
  if (!isObject(value)) throw new KvProtocolError('a history entry must be a map');
  return { p: checkedVersion(value.p), v: checkedVersion(value.v) };
}

function isObject(value: unknown): value is Record<string, unknown> {
  return (
    typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Uint8Array)
  );
}

function checkedString(value: unknown, what: string, maxChars: number): string {
  if (typeof value !== 'string' || value.length > maxChars)
    throw new KvProtocolError(`${what} must be a string of at most ${maxChars} characters`);
  return value;
}

function checkedNode(value: unknown): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > MAX_NODE_ID_CHARS)
    throw new KvProtocolError('a node id was expected');
  return value;
}

function checkedKey(value: unknown): string {
  if (typeof value !== 'string' || value.length === 0)
    throw new KvProtocolError('the key must be a non-empty string');
  if (Buffer.byteLength(value) > MAX_KEY_BYTES)
    throw new KvProtocolError(`the key is over ${MAX_KEY_BYTES} bytes`);
  return value;
}

function checkedPrefix(value: unknown): string {
  if (typeof value !== 'string') throw new KvProtocolError('the prefix must be a string');
  if (Buffer.byteLength(value) > MAX_KEY_BYTES)
    throw new KvProtocolError(`the prefix is over ${MAX_KEY_BYTES} bytes`);
  return value;
}

function checkedIndex(value: unknown, what: string): number {
  if (!Number.isSafeInteger(value) || (value as number) < 0)
    throw new KvProtocolError(`${what} must be a whole number`);
  return value as number;
}

function checkedBuckets(value: unknown, digests: boolean): number[] {
  if (!Array.isArray(value) || value.length > 4096) throw new KvProtocolError('buckets must be a list');
  return value.map((bucket: unknown) => {
    if (!Number.isSafeInteger(bucket) || (!digests && (bucket as number) < 0))
      throw new KvProtocolError('a bucket must be a whole number');
    return bucket as number;
  });
}

function checkedAction(value: unknown): KvAction {
  if (!isObject(value)) throw new KvProtocolError('the forwarded request must be a map');
  const key = checkedKey(value.key);
  const cas = value.cas === undefined ? {} : { cas: checkedIndex(value.cas, 'cas') };
  switch (value.action) {
    case 'get':
      return { action: 'get', key, consistent: value.consistent === true };
    case 'delete':
      return { action: 'delete', key, ...cas };
    case 'put': {
      if (!(value.value instanceof Uint8Array)) throw new KvProtocolError('the value must be bytes');
      if (value.value.length > MAX_VALUE_BYTES)
        throw new KvProtocolError(`the value is over ${MAX_VALUE_BYTES} bytes`);
      return {
        action: 'put',
        key,
        value: value.value,
        flags: checkedIndex(value.flags, 'flags'),
        ...(value.ttlMs !== undefined ? { ttlMs: checkedIndex(value.ttlMs, 'ttlMs') } : {}),
        ...cas,
      };
    }
    default:
      throw new KvProtocolError(`unknown KV action ${JSON.stringify(value.action)}`);
  }
}

function checkedVersion(value: unknown): Version {
  if (!isObject(value)) throw new KvProtocolError('the version must be a map');
  const { wall, logical, node } = value;
  if (!Number.isSafeInteger(wall) || (wall as number) < 0)
    throw new KvProtocolError('version.wall must be ms');
  if (!Number.isInteger(logical) || (logical as number) < 0 || (logical as number) >= 4096) {
    throw new KvProtocolError('version.logical must be 0-4095');
  }
  if (typeof node !== 'string' || node.length === 0 || node.length > MAX_NODE_ID_CHARS) {
    throw new KvProtocolError('version.node must be a node id');
  }
  return { wall: wall as number, logical: logical as number, node };
}

export function checkedRecord(value: unknown): KvRecord {
  if (!isObject(value)) throw new KvProtocolError('the record must be a map');
  const { value: bytes, flags, createIndex, deleted, expiresAt } = value;
  if (!(bytes instanceof Uint8Array)) throw new KvProtocolError('record.value must be bytes');
  if (bytes.length > MAX_VALUE_BYTES)
    throw new KvProtocolError(`record.value is over ${MAX_VALUE_BYTES} bytes`);
  if (!Number.isSafeInteger(flags) || (flags as number) < 0)
    throw new KvProtocolError('record.flags must be a whole number');
  if (!Number.isSafeInteger(createIndex) || (createIndex as number) < 0) {
    throw new KvProtocolError('record.createIndex must be a whole number');
  }
  if (deleted !== undefined && typeof deleted !== 'boolean')
    throw new KvProtocolError('record.deleted must be true or false');
  if (expiresAt !== undefined && !Number.isSafeInteger(expiresAt))
    throw new KvProtocolError('record.expiresAt must be ms');
  const version = checkedVersion(value.version);
  return {
    value: bytes,
    flags: flags as number,
    version,
    createIndex: createIndex as number,
    ...(deleted ? { deleted: true } : {}),
    ...(expiresAt !== undefined ? { expiresAt: expiresAt as number } : {}),
    ...(value.proposal !== undefined ? { proposal: checkedVersion(value.proposal) } : {}),
  };
}
