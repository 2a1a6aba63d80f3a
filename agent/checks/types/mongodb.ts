// The mongodb check (`type: mongodb`, Platus'): a replica set as one of its servers sees it
// (`replSetGetStatus`), asked of the first of `hosts` that answers: CRITICAL without a primary or
// when no host answers, WARNING when a member is unhealthy or a secondary lags more than
// `max_lag_seconds`; a standalone server (not running with --replSet) is asked `ping`. One item
// per member (Platus reports one service per member). One client per host kept between runs (the
// driver is loaded on the first run, not at start).
import { Type, type Static } from '@sinclair/typebox';
import type { Document, MongoClient } from 'mongodb';
import { raceAbort } from '../../shared/abort.js';
import type {
  CheckItem,
  CheckResult,
  CheckRunContext,
  CheckRunner,
  CheckSpec,
  CheckType,
  PerfDatum,
} from '../check-type.js';

export const MongodbCheckSchema = Type.Object(
  {
    hosts: Type.Optional(
      Type.Union([Type.String(), Type.Array(Type.String(), { minItems: 1 })], {
        description: 'host:port, or a list of them: the first that answers is asked',
      }),
    ),
    host: Type.Optional(Type.String({ description: 'instead of hosts: one host (Platus)' })),
    port: Type.Optional(Type.Integer({ minimum: 1, maximum: 65535 })),
    replica_set: Type.Optional(Type.String({ description: 'the expected replica set name' })),
    username: Type.Optional(Type.String()),
    password: Type.Optional(Type.String()),
    auth_source: Type.Optional(Type.String({ description: 'the database of the user, default admin' })),
    max_lag_seconds: Type.Optional(Type.Number({ minimum: 0 })),
  },
  { additionalProperties: true },
);
type MongodbBody = Static<typeof MongodbCheckSchema>;

export const MONGODB_CHECK_TYPE: CheckType = {
  type: 'mongodb',
  description:
    "a MongoDB replica set's members as a server sees them (replSetGetStatus), or a standalone's ping",
  schema: MongodbCheckSchema,
  create: (spec) => new MongodbRunner(spec),
};

/** Member states that are healthy (an arbiter votes, holds no data, and is fine). */
const HEALTHY_STATES = new Set(['PRIMARY', 'SECONDARY', 'ARBITER']);
const NO_REPLICATION = 76;

interface Member {
  name?: string;
  stateStr?: string;
  health?: number;
  optimeDate?: Date;
  self?: boolean;
}

class MongodbRunner implements CheckRunner {
  private readonly hosts: string[];
  private readonly clients = new Map<string, MongoClient>();
  private readonly maxLagSeconds: number;

  constructor(private readonly spec: CheckSpec) {
    const body = spec.body as MongodbBody;
    this.hosts = hostsOf(body);
    if ((body.username === undefined) !== (body.password === undefined))
      throw new Error('username: and password: go together');
    this.maxLagSeconds = body.max_lag_seconds ?? 30;
  }

  async run(context: CheckRunContext): Promise<CheckResult> {
    const failures: string[] = [];
    for (const host of this.hosts) {
      let client: MongoClient;
      try {
        client = await this.clientFor(host, context);
        const status = await this.replicaSetStatus(client, context.signal);
        return status === 'standalone'
          ? await this.standalone(host, client, context.signal)
          : this.judge(host, status);
      } catch (error) {
        // This host cannot say: the next one may.
        failures.push(`${host}: ${reason(error, context.signal)}`);
        await this.drop(host);
        if (context.signal.aborted) break;
      }
    }
    return { state: 'critical', output: `mongodb: no host answered (${failures.join('; ')})`, perfdata: [] };
  }

  async close(): Promise<void> {
    await Promise.all([...this.clients.keys()].map((host) => this.drop(host)));
  }

  private async clientFor(host: string, context: CheckRunContext): Promise<MongoClient> {
    const kept = this.clients.get(host);
    if (kept) return kept;
    const { MongoClient } = await import('mongodb');
    const body = this.spec.body as MongodbBody;
    const client = new MongoClient(`mongodb://${host}/`, {
      // This server's own view: no discovery of the others (they may not be reachable from here).
      directConnection: true,
      serverSelectionTimeoutMS: Math.max(100, Math.round(context.timeoutMs * 0.8)),
      connectTimeoutMS: Math.max(100, context.timeoutMs),
      maxPoolSize: 1,
      appName: 'opsbro-check',
      ...(body.username !== undefined
        ? {
            auth: { username: body.username, password: body.password! },
            authSource: body.auth_source ?? 'admin',
          }
        : {}),
    });
    this.clients.set(host, client);
    await raceAbort(client.connect(), context.signal);
    return client;
  }

  private async drop(host: string): Promise<void> {
    const client = this.clients.get(host);
    this.clients.delete(host);
    await client?.close(true).catch(() => undefined);
  }

  private async replicaSetStatus(client: MongoClient, signal: AbortSignal): Promise<Document | 'standalone'> {
    try {
      return await raceAbort(client.db('admin').command({ replSetGetStatus: 1 }), signal);
    } catch (error) {
      if ((error as { code?: number }).code === NO_REPLICATION) return 'standalone';
      throw error;
    }
  }

  private async standalone(host: string, client: MongoClient, signal: AbortSignal): Promise<CheckResult> {
    const body = this.spec.body as MongodbBody;
    if (body.replica_set !== undefined)
      return {
        state: 'critical',
        output: `mongodb ${host}: not a member of a replica set (replica_set: ${body.replica_set} expected)`,
        perfdata: [],
      };
    const started = performance.now();
    await raceAbort(client.db('admin').command({ ping: 1 }), signal);
    const ms = performance.now() - started;
    return {
      state: 'ok',
      output: `mongodb ${host}: standalone, ping in ${Math.round(ms)} ms`,
      perfdata: [{ label: 'ping', value: Math.round(ms * 10) / 10000, uom: 's', min: 0 }],
    };
  }

  private judge(host: string, status: Document): CheckResult {
    const body = this.spec.body as MongodbBody;
    const set = typeof status.set === 'string' ? status.set : '?';
    const members = (Array.isArray(status.members) ? status.members : []) as Member[];
    const where = `mongodb replica set ${set} (seen from ${host})`;
    if (body.replica_set !== undefined && set !== body.replica_set)
      return {
        state: 'critical',
        output: `${where}: expected replica set ${body.replica_set}`,
        perfdata: [],
      };
    const primary = members.find((member) => member.stateStr === 'PRIMARY');
    const lagOf = (member: Member): number | undefined =>
      primary?.optimeDate instanceof Date &&
      member.optimeDate instanceof Date &&
      member.stateStr === 'SECONDARY'
        ? Math.max(0, (primary.optimeDate.getTime() - member.optimeDate.getTime()) / 1000)
        : undefined;
    const unhealthy = members.filter(
      (member) => member.health !== 1 || !HEALTHY_STATES.has(member.stateStr ?? ''),
    );
    const lagging = members.filter((member) => (lagOf(member) ?? 0) > this.maxLagSeconds);
    const maxLag = Math.max(0, ...members.map((member) => lagOf(member) ?? 0));
    const described = members
      .map((member) => {
        const lag = lagOf(member);
        return `${member.name ?? '?'} ${member.stateStr ?? '?'}${lag !== undefined ? ` (lag ${Math.round(lag)} s)` : ''}`;
      })
      .join(', ');
    const items = members.map((member): CheckItem => {
      const lag = lagOf(member);
      const said = `${member.stateStr ?? '?'}${lag !== undefined ? `, lag ${Math.round(lag)} s` : ''}${
        member.health !== 1 ? `, health ${member.health ?? '?'}` : ''
      }`;
      const state =
        member.health !== 1
          ? 'critical'
          : !HEALTHY_STATES.has(member.stateStr ?? '') || (lag ?? 0) > this.maxLagSeconds
            ? 'warning'
            : 'ok';
      return {
        name: member.name ?? '?',
        state,
        output:
          state === 'warning' && (lag ?? 0) > this.maxLagSeconds
            ? `${said} (over max_lag_seconds ${this.maxLagSeconds})`
            : said,
      };
    });
    const perfdata: PerfDatum[] = [
      { label: 'members', value: members.length, uom: '' },
      { label: 'healthy', value: members.length - unhealthy.length, uom: '' },
      { label: 'max_lag', value: maxLag, uom: 's', warn: String(this.maxLagSeconds) },
    ];
    const withItems = items.length > 0 ? { items } : {};
    if (!primary)
      return { state: 'critical', output: `${where}: no primary: ${described}`, ...withItems, perfdata };
    if (unhealthy.length > 0)
      return {
        state: 'warning',
        output: `${where}: ${unhealthy.map((member) => member.name ?? '?').join(', ')} unhealthy: ${described}`,
        ...withItems,
        perfdata,
      };
    if (lagging.length > 0)
      return {
        state: 'warning',
        output: `${where}: replication lag over ${this.maxLagSeconds} s: ${described}`,
        ...withItems,
        perfdata,
      };
    return { state: 'ok', output: `${where}: ${described}`, ...withItems, perfdata };
  }
}

function hostsOf(body: MongodbBody): string[] {
  if (body.hosts !== undefined && body.host !== undefined) throw new Error('hosts: or host:, not both');
  const hosts =
    body.hosts !== undefined
      ? Array.isArray(body.hosts)
        ? body.hosts
        : [body.hosts]
      : body.host !== undefined
        ? [`${body.host}:${body.port ?? 27017}`]
        : undefined;
  if (!hosts) throw new Error('hosts: (or host:) is required, e.g. hosts: [db1:27017, db2:27017]');
  for (const host of hosts)
    if (!/^[^\s/?#@]+$/.test(host))
      throw new Error(`hosts: ${JSON.stringify(host)} is not host or host:port`);
  return hosts;
}

function reason(error: unknown, signal: AbortSignal): string {
  if (signal.aborted) return 'timed out';
  const failure = error as { message?: string; codeName?: string };
  return failure.codeName
    ? `${failure.codeName}: ${failure.message ?? ''}`
    : (failure.message ?? String(error));
}
