// The redis collector: INFO of one Redis server, by section, with numbers as numbers, plus the PING
// round trip and per-second rates of the main counters. One connection kept between runs.
import type {
  CollectedData,
  CollectedValue,
  CollectorInstance,
  CollectorType,
  CollectContext,
} from '../collector.js';
import {
  CounterRates,
  describeNetworkError,
  monotonicMs,
  portSetting,
  redact,
  round3,
  stringSetting,
} from './common.js';
import { type RedisEndpoint, RedisConnection, RedisReplyError } from './redis-client.js';

const DEFAULTS = { host: '127.0.0.1', port: 6379, password: '', socket: '' } as const;

/** INFO fields that look numeric but are identifiers (`redis_git_sha1:00000000`). */
const STRING_FIELDS = new Set([
  'redis_git_sha1',
  'redis_build_id',
  'run_id',
  'master_replid',
  'master_replid2',
]);

/** `stats` counters turned into `<name>_s` rates (name without a `total_` prefix). */
const RATE_COUNTERS = [
  'total_commands_processed',
  'total_connections_received',
  'total_net_input_bytes',
  'total_net_output_bytes',
  'keyspace_hits',
  'keyspace_misses',
  'expired_keys',
  'evicted_keys',
  'rejected_connections',
] as const;

const NUMBER = /^-?\d+(\.\d+)?$/;

function infoValue(field: string, raw: string): CollectedValue {
  if (STRING_FIELDS.has(field)) return raw;
  if (NUMBER.test(raw)) return Number(raw);
  // `db0:keys=1,expires=0,avg_ttl=0`, `slave0:ip=...,port=...`, `errorstat_ERR:count=1`: an object.
  if (/^[\w-]+=[^,]*(,[\w-]+=[^,]*)*$/.test(raw)) {
    const object: Record<string, CollectedValue> = {};
    for (const pair of raw.split(',')) {
      const equals = pair.indexOf('=');
      const value = pair.slice(equals + 1);
      object[pair.slice(0, equals)] = NUMBER.test(value) ? Number(value) : value;
    }
    return object;
  }
  return raw;
}

/** Parses INFO text into `{section: {field: value}}`, section names lower-cased (`# Keyspace` -> keyspace). */
export function parseRedisInfo(text: string): Record<string, Record<string, CollectedValue>> {
  const sections: Record<string, Record<string, CollectedValue>> = {};
  let current: Record<string, CollectedValue> = {};
  for (const rawLine of text.split('\n')) {
    const line = rawLine.trim();
    if (!line) continue;
    if (line.startsWith('#')) {
      current = {};
      sections[line.slice(1).trim().toLowerCase()] = current;
      continue;
    }
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const field = line.slice(0, colon);
    current[field] = infoValue(field, line.slice(colon + 1));
  }
  return sections;
}

class RedisCollector implements CollectorInstance {
  private connection?: RedisConnection;
  private readonly rates = new CounterRates();
  /** "redis 127.0.0.1:6379" or "redis /run/redis.sock": the prefix of every message. */
  private readonly label: string;

  constructor(
    private readonly endpoint: RedisEndpoint,
    private readonly password: string,
  ) {
    this.label = `redis ${endpoint.socketPath || `${endpoint.host}:${endpoint.port}`}`;
  }

  async collect(context: CollectContext): Promise<CollectedData> {
    const { signal } = context;
    try {
      const connection = await this.connected(signal);
      const pingStartedMs = monotonicMs();
      await connection.command(['PING'], signal);
      const latencyMs = round3(monotonicMs() - pingStartedMs);
      const info = await connection.command(['INFO'], signal);
      if (typeof info !== 'string') throw new Error('INFO answered something other than text');
      return this.shape(parseRedisInfo(info), latencyMs);
    } catch (error) {
      // A connection that failed mid-command is out of sync: next run starts a new one.
      if (this.connection && !this.connection.usable) this.connection = undefined;
      throw new Error(`${this.label}: ${redact(this.describe(error), [this.password])}`, { cause: error });
    }
  }

  close(): Promise<void> {
    this.connection?.close();
    this.connection = undefined;
    return Promise.resolve();
  }

  private async connected(signal: AbortSignal): Promise<RedisConnection> {
    if (this.connection?.usable) return this.connection;
    this.connection = undefined;
    const connection = await RedisConnection.connect(this.endpoint, signal);
    if (this.password) {
      try {
        await connection.command(['AUTH', this.password], signal);
      } catch (error) {
        connection.close();
        if (error instanceof RedisReplyError)
          throw new Error(`authentication failed: ${error.message}`, { cause: error });
        throw error;
      }
    }
    this.connection = connection;
    return connection;
  }

  private describe(error: unknown): string {
    if (error instanceof RedisReplyError && error.message.startsWith('NOAUTH')) {
      return `${error.message} (set the collector's password setting)`;
    }
    return describeNetworkError(error);
  }

  private shape(sections: Record<string, Record<string, CollectedValue>>, latencyMs: number): CollectedData {
    const stats = sections.stats ?? {};
    const uptime = sections.server?.uptime_in_seconds;
    const counters = new Map<string, number>();
    for (const name of RATE_COUNTERS) {
      const value = stats[name];
      if (typeof value === 'number') counters.set(name, value);
    }
    const rates = this.rates.next(counters, typeof uptime === 'number' ? uptime : undefined, monotonicMs());
    for (const [name, rate] of rates) stats[`${name.replace(/^total_/, '')}_s`] = rate;
    // Sections INFO leaves empty (no keys yet) still exist, so `keyspace.db0` paths resolve once keys appear.
    return { ...sections, keyspace: sections.keyspace ?? {}, stats, latency_ms: latencyMs };
  }
}

export const redisCollectorType: CollectorType = {
  type: 'redis',
  description:
    'Redis INFO by section (server, clients, memory, stats, replication, keyspace), PING latency, rates',
  defaultSettings: DEFAULTS,
  create(settings) {
    const socketPath = stringSetting(settings, 'socket', DEFAULTS.socket);
    return new RedisCollector(
      {
        host: stringSetting(settings, 'host', DEFAULTS.host),
        port: portSetting(settings, 'port', DEFAULTS.port),
        ...(socketPath ? { socketPath } : {}),
      },
      stringSetting(settings, 'password', DEFAULTS.password),
    );
  },
};
