// KV between nodes, over the cluster RPC: a coordinator asks a replica to apply a record or to say
// what it holds of a key. Requests come only from cluster members (the RPC's private network and
// Noise), yet every field is checked before it reaches the store: a bug or a bad version on one
// member must not write garbage into another's. The records' versions feed the replica's clock.
import { decode, encode } from '@msgpack/msgpack';
import type { RpcHandler } from '../rpc/index.js';
import { MAX_DRIFT_MS, type HybridClock, type Version } from './hlc.js';
import type { ReplicaTransport } from './coordinator.js';
import type { KvRecord, KvReplicaStore } from './replica-store.js';

export const KV_PROTOCOL = '/opsbro/kv/1.0.0';
/** The longest key (bytes of UTF-8). */
export const MAX_KEY_BYTES = 1024;
/** The largest value (issue 14's default limit). */
export const MAX_VALUE_BYTES = 512 * 1024;
/** Node ids are UUIDs; anything far longer is not one. */
const MAX_NODE_ID_CHARS = 128;

type KvRequest = { op: 'apply'; key: string; record: KvRecord } | { op: 'read'; key: string };

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
  if (!isObject(raw)) throw new KvProtocolError('not a KV request: not a map');
  const key = checkedKey(raw.key);
  if (raw.op === 'read') return { op: 'read', key };
  if (raw.op === 'apply') return { op: 'apply', key, record: checkedRecord(raw.record) };
  throw new KvProtocolError(`unknown KV operation ${JSON.stringify(raw.op)}`);
}

/** The replica's side: serves a coordinator's requests on this node's store. */
export function kvRpcHandler(store: KvReplicaStore, clock: HybridClock): RpcHandler {
  return async (request) => {
    const asked = decodeKvRequest(request);
    if (asked.op === 'read') return encode({ record: (await store.record(asked.key)) ?? null });
    // A version from further ahead than the drift bound would pin the key in the future.
    if (!clock.observe(asked.record.version)) {
      throw new KvProtocolError(`a version more than ${MAX_DRIFT_MS / 1000} s ahead of this node's clock`);
    }
    return encode({ outcome: await store.apply(asked.key, asked.record) });
  };
}

/**
 * The coordinator's side: this node's own store directly, the others over the RPC
 * (`request` sends KV_PROTOCOL's bytes to a member by id).
 */
export function rpcReplicaTransport(options: {
  self: string;
  local: KvReplicaStore;
  request: (node: string, payload: Uint8Array) => Promise<Uint8Array>;
}): ReplicaTransport {
  return {
    apply: async (node, key, record) => {
      if (node === options.self) return options.local.apply(key, record);
      const reply = decode(await options.request(node, encodeKvRequest({ op: 'apply', key, record })));
      if (!isObject(reply) || (reply.outcome !== 'applied' && reply.outcome !== 'stale')) {
        throw new KvProtocolError(`${node} answered an apply with no outcome`);
      }
      return reply.outcome;
    },
    read: async (node, key) => {
      if (node === options.self) return options.local.record(key);
      const reply = decode(await options.request(node, encodeKvRequest({ op: 'read', key })));
      if (!isObject(reply) || !('record' in reply))
        throw new KvProtocolError(`${node} answered a read with no record`);
      return reply.record === null ? undefined : checkedRecord(reply.record);
    },
  };
}

function isObject(value: unknown): value is Record<string, unknown> {
  return (
    typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Uint8Array)
  );
}

function checkedKey(value: unknown): string {
  if (typeof value !== 'string' || value.length === 0)
    throw new KvProtocolError('the key must be a non-empty string');
  if (Buffer.byteLength(value) > MAX_KEY_BYTES)
    throw new KvProtocolError(`the key is over ${MAX_KEY_BYTES} bytes`);
  return value;
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

function checkedRecord(value: unknown): KvRecord {
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
  };
}
