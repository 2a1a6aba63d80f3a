// The KV store over HTTP, in two dialects on the same store (docs/kv.md, HTTP API):
// - the seed's `/kv/`: JSON records with snake_case fields, a CAS conflict answered 409;
// - Consul's `/v1/kv/`: its JSON shape, `true`/`false` answers and the X-Consul-Index header, so
//   Consul's tools and client libraries work unchanged.
// Reads need the read role, writes the admin role (DESIGN.md). Keys and values are checked here,
// before anything is forwarded: a bad key is a 400, a value over the limit a 413.
import { HttpError, HttpReply, type RequestContext, type Route } from '../shared/http.js';
import { QuorumError } from './coordinator.js';
import { indexOf } from './hlc.js';
import { isLive, type KvRecord } from './replica-store.js';
import { MAX_KEY_BYTES, MAX_WAIT_MS, type KvAction, type KvActionResult } from './rpc-protocol.js';
import type { KvService } from './service.js';

/** What the routes need of the KV subsystem. */
export interface KvRouteHost {
  service(): KvService;
  /** This node's own live records (the seed's `GET /kv/`). */
  localKeys(): Promise<string[]>;
  maxValueBytes: number;
}

/** A blocking query without `wait` waits this long (Consul's default). */
const DEFAULT_WAIT_MS = 5 * 60_000;
/** Deletes a recursive delete runs at once. */
const DELETE_CONCURRENCY = 16;

type Dialect = 'seed' | 'consul';

export function kvRoutes(host: KvRouteHost): Route[] {
  const rawPut = { body: 'raw' as const, maxBodyBytes: host.maxValueBytes };
  return [
    {
      method: 'GET',
      path: '/kv',
      access: 'read',
      description:
        "the keys this node holds; ?keys&prefix=P the cluster's keys under P; ?recurse&prefix=P their records",
      handler: (context) => seedList(host, context, context.query.get('prefix') ?? ''),
    },
    {
      method: 'GET',
      path: '/kv/:key*',
      access: 'read',
      description:
        'a key: {key, value (base64), flags, create_index, modify_index}; ?raw the bytes; ?consistent a majority read; ?index=N&wait=30s blocks until it changes; ?recurse / ?keys list under it',
      handler: (context) => {
        const key = clientKey(context, 'seed');
        if (context.query.has('recurse') || context.query.has('keys')) return seedList(host, context, key);
        return seedGet(host, context, key);
      },
    },
    {
      method: 'PUT',
      path: '/kv/:key*',
      access: 'admin',
      description:
        'stores the body as the value (?flags=N, ?ttl=30s, ?cas=INDEX: 0 creates only); 409 on a CAS conflict',
      ...rawPut,
      handler: async (context) => {
        const action = putOf(context, 'seed');
        return seedWriteAnswer(action.key, await write(host, action));
      },
    },
    {
      method: 'DELETE',
      path: '/kv/:key*',
      access: 'admin',
      description: 'deletes a key (?cas=INDEX: only if unchanged); 409 on a CAS conflict',
      handler: async (context) => {
        const key = clientKey(context, 'seed');
        return seedWriteAnswer(key, await write(host, { action: 'delete', key, ...casOf(context) }));
      },
    },
    {
      method: 'GET',
      path: '/v1/kv',
      access: 'read',
      description: "Consul's KV API on the whole store (?recurse, ?keys, ?separator=)",
      handler: (context) => consulGet(host, context, ''),
    },
    {
      method: 'GET',
      path: '/v1/kv/:key*',
      access: 'read',
      description:
        "Consul's KV API: [{Key, Value (base64), Flags, CreateIndex, ModifyIndex, LockIndex}]; ?recurse, ?keys, ?separator, ?raw, ?consistent, ?index&wait; X-Consul-Index",
      handler: (context) => consulGet(host, context, clientKey(context, 'consul')),
    },
    {
      method: 'PUT',
      path: '/v1/kv/:key*',
      access: 'admin',
      description: "Consul's KV API: stores the body (?flags, ?cas); answers true or false",
      ...rawPut,
      handler: async (context) => {
        refuseSessions(context);
        return consulBoolean(await write(host, putOf(context, 'consul')));
      },
    },
    {
      method: 'DELETE',
      path: '/v1/kv/:key*',
      access: 'admin',
      description: "Consul's KV API: deletes a key (?cas), or every key under it (?recurse); true or false",
      handler: async (context) => {
        const key = clientKey(context, 'consul');
        if (context.query.has('recurse')) return consulBoolean(await deleteTree(host, key));
        return consulBoolean(await write(host, { action: 'delete', key, ...casOf(context) }));
      },
    },
    {
      method: 'DELETE',
      path: '/v1/kv',
      access: 'admin',
      description: "Consul's KV API: ?recurse deletes every key",
      handler: async (context) => {
        if (!context.query.has('recurse'))
          throw new HttpError(400, 'missing key to delete (or ?recurse for all)');
        return consulBoolean(await deleteTree(host, ''));
      },
    },
  ];
}

// --- the seed's dialect ---------------------------------------------------------------------

async function seedGet(host: KvRouteHost, context: RequestContext, key: string): Promise<unknown> {
  const result = await blockingRead(host, context, key);
  const headers = indexHeaders(result.index);
  // The index says when it was deleted (0: never written): a watcher blocks from there.
  if (!result.record) return new HttpReply(404, { error: `no key ${key}`, index: result.index }, headers);
  if (context.query.has('raw')) return new HttpReply(200, Buffer.from(result.record.value), headers);
  return new HttpReply(200, seedRecord(key, result.record), headers);
}

async function seedList(host: KvRouteHost, context: RequestContext, prefix: string): Promise<unknown> {
  const { query } = context;
  const wanted = query.has('recurse') ? 'records' : query.has('keys') ? 'keys' : 'local';
  if (wanted === 'local') return host.localKeys();
  const listing = await blockingList(host, context, prefix, wanted === 'keys');
  const live = listing.entries.filter(([, record]) => isLive(record, Date.now()));
  const body =
    wanted === 'keys' ? live.map(([key]) => key) : live.map(([key, record]) => seedRecord(key, record));
  return new HttpReply(200, body, indexHeaders(listing.index));
}

function seedRecord(key: string, record: KvRecord) {
  return {
    key,
    value: Buffer.from(record.value).toString('base64'),
    flags: record.flags,
    create_index: record.createIndex,
    modify_index: indexOf(record.version),
    lock_index: 0,
    ...(record.expiresAt !== undefined ? { expires_at: new Date(record.expiresAt).toISOString() } : {}),
  };
}

function seedWriteAnswer(key: string, result: KvActionResult): unknown {
  if (result.ok)
    return new HttpReply(200, { ok: true, key, index: result.index }, indexHeaders(result.index));
  return new HttpReply(
    409,
    {
      ok: false,
      key,
      index: result.index,
      error: `compare-and-set refused: ${key} is at index ${result.index}`,
    },
    indexHeaders(result.index),
  );
}

// --- Consul's dialect -----------------------------------------------------------------------

async function consulGet(host: KvRouteHost, context: RequestContext, key: string): Promise<unknown> {
  const { query } = context;
  if (query.has('keys') || query.has('recurse')) {
    const listing = await blockingList(host, context, key, query.has('keys'));
    const live = listing.entries.filter(([, record]) => isLive(record, Date.now()));
    const headers = consulHeaders(listing.index);
    if (query.has('keys')) {
      const separator = query.get('separator') ?? '';
      const keys = rollUp(
        live.map(([each]) => each),
        key,
        separator,
      );
      // Consul answers 404 to a listing with nothing in it.
      if (keys.length === 0) return new HttpReply(404, Buffer.alloc(0), headers, 'text/plain');
      return new HttpReply(200, keys, headers);
    }
    if (live.length === 0) return new HttpReply(404, Buffer.alloc(0), headers, 'text/plain');
    return new HttpReply(
      200,
      live.map(([each, record]) => consulRecord(each, record)),
      headers,
    );
  }
  if (key === '') throw new HttpError(400, 'missing key (or ?recurse / ?keys to list)');
  const result = await blockingRead(host, context, key);
  const headers = consulHeaders(result.index);
  if (!result.record) return new HttpReply(404, Buffer.alloc(0), headers, 'text/plain');
  if (query.has('raw')) return new HttpReply(200, Buffer.from(result.record.value), headers);
  return new HttpReply(200, [consulRecord(key, result.record)], headers);
}

function consulRecord(key: string, record: KvRecord) {
  return {
    LockIndex: 0,
    Key: key,
    Flags: record.flags,
    // Consul sends null for an empty value.
    Value: record.value.length ? Buffer.from(record.value).toString('base64') : null,
    CreateIndex: record.createIndex,
    ModifyIndex: indexOf(record.version),
  };
}

function consulBoolean(result: KvActionResult): HttpReply {
  return new HttpReply(200, result.ok, consulHeaders(result.index));
}

function consulHeaders(index: number): Record<string, string> {
  return { ...indexHeaders(index), 'X-Consul-KnownLeader': 'true', 'X-Consul-LastContact': '0' };
}

function refuseSessions(context: RequestContext): void {
  for (const name of ['acquire', 'release'])
    if (context.query.has(name))
      throw new HttpError(501, `?${name}: sessions and locks are not implemented by opsbro's KV store`);
}

/**
 * Consul's `?keys&separator=/`: keys under `prefix` up to the first separator after it, each
 * folder once ("a/b/c", "a/b/d" under "a/" give "a/b/").
 */
function rollUp(keys: string[], prefix: string, separator: string): string[] {
  if (!separator) return keys;
  const out: string[] = [];
  for (const key of keys) {
    const at = key.indexOf(separator, prefix.length);
    const shown = at === -1 ? key : key.slice(0, at + separator.length);
    if (out.at(-1) !== shown) out.push(shown);
  }
  return out;
}

// --- shared ---------------------------------------------------------------------------------

function indexHeaders(index: number): Record<string, string> {
  return { 'X-Consul-Index': String(index) };
}

/** Reads a key; with ?index=N, waits (up to ?wait) until its index passes N. */
async function blockingRead(
  host: KvRouteHost,
  context: RequestContext,
  key: string,
): Promise<{ index: number; record?: KvRecord }> {
  const consistent = context.query.has('consistent');
  const blocking = blockingOf(context);
  const result = await run(() =>
    blocking
      ? host
          .service()
          .blockingGet(key, blocking.index, blocking.waitMs, { consistent, signal: context.signal })
      : host.service().execute({ action: 'get', key, consistent }),
  );
  return { index: result.index, ...(result.record ? { record: result.record } : {}) };
}

async function blockingList(
  host: KvRouteHost,
  context: RequestContext,
  prefix: string,
  keysOnly: boolean,
): Promise<{ entries: Array<[string, KvRecord]>; index: number }> {
  const list = () => run(() => host.service().list(prefix, keysOnly));
  const blocking = blockingOf(context);
  const first = await list();
  if (!blocking || first.index > blocking.index) return first;
  await host.service().waitForChange(prefix, false, blocking.index, blocking.waitMs, context.signal);
  return list();
}

function blockingOf(context: RequestContext): { index: number; waitMs: number } | undefined {
  const raw = context.query.get('index');
  if (raw === null) return undefined;
  const index = Number(raw);
  if (!/^\d+$/.test(raw) || !Number.isSafeInteger(index))
    throw new HttpError(400, `?index=${raw}: a whole number was expected`);
  const wait = context.query.get('wait');
  const waitMs = wait === null ? DEFAULT_WAIT_MS : durationMs(wait, 'wait');
  return { index, waitMs: Math.min(waitMs, MAX_WAIT_MS) };
}

async function write(
  host: KvRouteHost,
  action: Parameters<KvService['execute']>[0],
): Promise<KvActionResult> {
  return run(() => host.service().execute(action));
}

/** Deletes every live key under `prefix` (plain deletes, a few at a time). */
async function deleteTree(host: KvRouteHost, prefix: string): Promise<KvActionResult> {
  const listing = await run(() => host.service().list(prefix, true));
  const keys = listing.entries.filter(([, record]) => isLive(record, Date.now())).map(([key]) => key);
  let index = listing.index;
  for (let at = 0; at < keys.length; at += DELETE_CONCURRENCY) {
    const results = await Promise.all(
      keys.slice(at, at + DELETE_CONCURRENCY).map((key) => write(host, { action: 'delete', key })),
    );
    for (const result of results) index = Math.max(index, result.index);
  }
  return { ok: true, index };
}

/** The store could not reach enough replicas: 503, and a retry is safe. */
async function run<T>(task: () => Promise<T>): Promise<T> {
  try {
    return await task();
  } catch (error) {
    if (error instanceof QuorumError) throw new HttpError(503, error.message, { 'Retry-After': '1' });
    throw error;
  }
}

/**
 * The key of a request, checked: the router decoded it; a `.` or `..` segment is refused (a key
 * must mean what it says); the seed's dialect refuses an encoded slash (`%2F`: is it one key
 * segment or two?), Consul's takes it as a slash, as Consul does, because its client libraries
 * encode whole keys that way.
 */
function clientKey(context: RequestContext, dialect: Dialect): string {
  const key = context.params.key ?? '';
  if (dialect === 'seed' && /%2f/i.test(context.rawPath))
    throw new HttpError(400, 'an encoded slash (%2F) in a key is ambiguous: send the slash itself');
  if (key.split('/').some((segment) => segment === '.' || segment === '..'))
    throw new HttpError(400, 'a key must not hold . or .. segments');
  if (key.includes('\u0000')) throw new HttpError(400, 'a key must not hold NUL characters');
  if (Buffer.byteLength(key) > MAX_KEY_BYTES)
    throw new HttpError(400, `the key is ${Buffer.byteLength(key)} bytes; the limit is ${MAX_KEY_BYTES}`);
  return key;
}

/** A PUT's operation: the body as the value, ?flags, ?cas, and ?ttl in the seed's dialect. */
function putOf(context: RequestContext, dialect: Dialect): KvAction {
  return {
    action: 'put',
    key: clientKey(context, dialect),
    value: context.rawBody ?? Buffer.alloc(0),
    flags: flagsOf(context),
    ...(dialect === 'seed' ? ttlOf(context) : {}),
    ...casOf(context),
  };
}

function flagsOf(context: RequestContext): number {
  const raw = context.query.get('flags');
  if (raw === null) return 0;
  const flags = Number(raw);
  if (!/^\d+$/.test(raw) || !Number.isSafeInteger(flags))
    throw new HttpError(400, `?flags=${raw}: a whole number (0 to 2^53-1) was expected`);
  return flags;
}

function casOf(context: RequestContext): { cas?: number } {
  const raw = context.query.get('cas');
  if (raw === null) return {};
  const cas = Number(raw);
  if (!/^\d+$/.test(raw) || !Number.isSafeInteger(cas))
    throw new HttpError(400, `?cas=${raw}: an index (a whole number; 0 to create only) was expected`);
  return { cas };
}

function ttlOf(context: RequestContext): { ttlMs?: number } {
  const raw = context.query.get('ttl');
  if (raw === null) return {};
  const ttlMs = durationMs(raw, 'ttl');
  if (ttlMs === 0) throw new HttpError(400, '?ttl must be more than 0');
  return { ttlMs };
}

/** `30s`, `5m`, `1h`, `250ms`, or bare seconds. */
function durationMs(raw: string, what: string): number {
  const match = /^(\d+)(ms|s|m|h)?$/.exec(raw);
  if (!match) throw new HttpError(400, `?${what}=${raw}: a duration such as 30s, 5m or 250ms was expected`);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[match[2] ?? 's']!;
  const ms = Number(match[1]) * unit;
  if (!Number.isSafeInteger(ms)) throw new HttpError(400, `?${what}=${raw} is too long`);
  return ms;
}
