// The mongodb collector: serverStatus through the official driver, reduced to what operators watch
// (version, uptime, connections, opcounters and their rates, memory, network rates, asserts, queues,
// replication role). One MongoClient kept between runs; dropped after a failure and made again. The
// driver is loaded by the first run: an agent without the mongodb pack never pays for it (~20 MiB).
import type { MongoClient } from 'mongodb';

import type { CollectedData, CollectorInstance, CollectorType, CollectContext } from '../collector.js';
import {
  CounterRates,
  asRecord,
  errnoPhrase,
  monotonicMs,
  numbersOf,
  raceAbort,
  redact,
  stringSetting,
} from './common.js';
import { messageOf } from '../../shared/errors.js';

const OPCOUNTERS = ['insert', 'query', 'update', 'delete', 'getmore', 'command'] as const;
const NETWORK = ['bytesIn', 'bytesOut', 'numRequests'] as const;
const ASSERTS = ['regular', 'warning', 'msg', 'user', 'rollovers'] as const;
const CONNECTIONS = ['current', 'available', 'totalCreated', 'active'] as const;
const LOCK_COUNTS = ['total', 'readers', 'writers'] as const;
const DEFAULT_URI = 'mongodb://127.0.0.1:27017/?directConnection=true';

/**
 * A number from a BSON value: the driver hands plain numbers for Int32/Double and small Longs, but
 * Long (beyond 2^53), Decimal128 and, with other options, Double/Int32 wrappers or bigint.
 */
export function bsonNumber(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) ? value : undefined;
  if (typeof value === 'bigint') return Number(value);
  if (typeof value === 'boolean') return value ? 1 : 0;
  const object = asRecord(value);
  if (!object || typeof object._bsontype !== 'string') return undefined;
  const wrapper = value as { toNumber?: () => number; valueOf: () => unknown; toString: () => string };
  if (typeof wrapper.toNumber === 'function') return wrapper.toNumber(); // Long
  if (object._bsontype === 'Decimal128') return Number(wrapper.toString());
  const primitive = wrapper.valueOf(); // Double, Int32
  return typeof primitive === 'number' && Number.isFinite(primitive) ? primitive : undefined;
}

/** "mongodb://user:pw@h1:27017,h2/?x" -> "h1:27017,h2": where, without credentials or options. */
export function mongoHosts(uri: string): string {
  const afterScheme = uri.replace(/^mongodb(\+srv)?:\/\//, '');
  const withoutCredentials = afterScheme.includes('@')
    ? afterScheme.slice(afterScheme.lastIndexOf('@') + 1)
    : afterScheme;
  return withoutCredentials.split(/[/?]/)[0] ?? withoutCredentials;
}

/** The password in a mongodb URI, to scrub it from driver messages. */
function uriPassword(uri: string): string {
  const match = /^mongodb(?:\+srv)?:\/\/[^:@/]*:([^@/]*)@/.exec(uri);
  if (!match?.[1]) return '';
  try {
    return decodeURIComponent(match[1]);
  } catch {
    return match[1];
  }
}

/** Maps serverStatus to the collector's data; `rates` are the per-second rates of opcounters and network. */
function shapeServerStatus(
  status: Record<string, unknown>,
  rates: ReadonlyMap<string, number>,
): CollectedData {
  const mem = asRecord(status.mem);
  const globalLock = asRecord(status.globalLock);
  const repl = asRecord(status.repl);
  const opcounters = numbersOf(status.opcounters, OPCOUNTERS, bsonNumber);
  const network: Record<string, number> = numbersOf(status.network, NETWORK, bsonNumber);
  for (const key of NETWORK) network[`${key}_s`] = rates.get(`network.${key}`) ?? 0;
  const data: CollectedData = {
    version: typeof status.version === 'string' ? status.version : '',
    process: typeof status.process === 'string' ? status.process : '',
    uptime: bsonNumber(status.uptime) ?? 0,
    connections: numbersOf(status.connections, CONNECTIONS, bsonNumber),
    opcounters,
    opcounters_s: Object.fromEntries(OPCOUNTERS.map((key) => [key, rates.get(`opcounters.${key}`) ?? 0])),
    mem: { resident: bsonNumber(mem?.resident) ?? 0, virtual: bsonNumber(mem?.virtual) ?? 0 },
    network,
    asserts: numbersOf(status.asserts, ASSERTS, bsonNumber),
    globalLock: {
      currentQueue: numbersOf(globalLock?.currentQueue, LOCK_COUNTS, bsonNumber),
      activeClients: numbersOf(globalLock?.activeClients, LOCK_COUNTS, bsonNumber),
    },
  };
  if (repl) {
    data.repl = {
      setName: typeof repl.setName === 'string' ? repl.setName : '',
      isWritablePrimary: repl.isWritablePrimary === true || repl.ismaster === true,
      secondary: repl.secondary === true,
    };
  }
  return data;
}

/** Counters whose rates are computed, as `section.key`. */
function rateCounters(status: Record<string, unknown>): Map<string, number> {
  const counters = new Map<string, number>();
  const add = (section: string, keys: readonly string[]): void => {
    const record = asRecord(status[section]);
    for (const key of keys) {
      const value = bsonNumber(record?.[key]);
      if (value !== undefined) counters.set(`${section}.${key}`, value);
    }
  };
  add('opcounters', OPCOUNTERS);
  add('network', NETWORK);
  return counters;
}

class MongodbCollector implements CollectorInstance {
  private client?: MongoClient;
  private readonly rates = new CounterRates();
  private readonly label: string;
  private readonly password: string;

  constructor(private readonly uri: string) {
    this.label = `mongodb ${mongoHosts(uri)}`;
    this.password = uriPassword(uri);
  }

  async collect(context: CollectContext): Promise<CollectedData> {
    const { signal } = context;
    // An aborted step may leave a stuck socket: the client is dropped at once.
    const guarded = <T>(step: Promise<T>): Promise<T> => raceAbort(step, signal, () => this.drop());
    try {
      const client = await guarded(this.connected(context.timeoutMs, signal));
      const status = await guarded(client.db('admin').command({ serverStatus: 1 }, { signal }));
      const uptime = bsonNumber(status.uptime);
      const rates = this.rates.next(rateCounters(status), uptime, monotonicMs());
      return shapeServerStatus(status, rates);
    } catch (error) {
      this.drop();
      throw new Error(`${this.label}: ${redact(describeMongoError(error), [this.password])}`, {
        cause: error,
      });
    }
  }

  async close(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    await client?.close(true).catch(() => undefined);
  }

  private async connected(timeoutMs: number, signal: AbortSignal): Promise<MongoClient> {
    if (this.client) return this.client;
    const { MongoClient } = await import('mongodb');
    signal.throwIfAborted(); // aborted while loading: no client to leave behind
    const client = new MongoClient(this.uri, {
      // Fail within the run instead of the driver's 30 s server selection.
      serverSelectionTimeoutMS: Math.max(100, Math.round(timeoutMs * 0.9)),
      connectTimeoutMS: Math.max(100, timeoutMs),
      maxPoolSize: 2,
      appName: 'opsbro',
    });
    this.client = client;
    await client.connect();
    return client;
  }

  /** Forgets the client (a failed or aborted one may hold a stuck socket) and closes it in the background. */
  private drop(): void {
    const client = this.client;
    this.client = undefined;
    void client?.close(true).catch(() => undefined);
  }
}

/** The driver's messages, shortened where a socket error explains it better. */
function describeMongoError(error: unknown): string {
  const message = messageOf(error);
  const code = /\b(E[A-Z]{4,})\b/.exec(message)?.[1];
  return (code && errnoPhrase(code)) || message;
}

export const mongodbCollectorType: CollectorType = {
  type: 'mongodb',
  description:
    'MongoDB serverStatus: version, uptime, connections, opcounters and rates, memory, network, asserts',
  defaultSettings: { uri: DEFAULT_URI },
  create(settings) {
    const uri = stringSetting(settings, 'uri', DEFAULT_URI);
    if (!/^mongodb(\+srv)?:\/\//.test(uri)) {
      throw new Error(
        `setting uri: must start with mongodb:// or mongodb+srv:// (got ${JSON.stringify(mongoHosts(uri))})`,
      );
    }
    return new MongodbCollector(uri);
  },
};
