// The mongodb check through the real driver against stand-in mongods speaking the wire protocol
// (test/helpers/mongo-wire-server.ts): a replica set's status as one member reports it, a
// standalone's ping, the next host asked when the first does not answer; one item per member.
import { afterEach, describe, expect, it } from 'vitest';
import type { CheckRunner } from '../../agent/checks/check-type.js';
import { MONGODB_CHECK_TYPE } from '../../agent/checks/types/mongodb.js';
import { startMongoWireServer, type MongoWireServer } from '../helpers/mongo-wire-server.js';
import { runService, SERVICE_DEPENDENCIES } from './service-fixtures.js';

const runners: CheckRunner[] = [];
const servers: MongoWireServer[] = [];

afterEach(async () => {
  for (const runner of runners.splice(0)) await runner.close?.();
  for (const server of servers.splice(0)) await server.close();
});

async function mongod(replSetStatus?: Record<string, unknown>): Promise<MongoWireServer> {
  const server = await startMongoWireServer({});
  if (replSetStatus) server.replSetStatus = replSetStatus;
  servers.push(server);
  return server;
}

function check(body: Record<string, unknown>): CheckRunner {
  const runner = MONGODB_CHECK_TYPE.create({ name: 'db', body, packParameters: {} }, SERVICE_DEPENDENCIES);
  runners.push(runner);
  return runner;
}

const run = runService;

const T = Date.parse('2026-12-05T12:00:00Z');
const member = (name: string, stateStr: string, behindSeconds = 0, health = 1) => ({
  name,
  stateStr,
  health,
  optimeDate: new Date(T - behindSeconds * 1000),
});

describe('mongodb check', () => {
  it('is OK when the set has a primary and healthy, close secondaries; lists them with their lag', async () => {
    const db = await mongod({
      set: 'rs0',
      members: [
        member('db1:27017', 'PRIMARY'),
        member('db2:27017', 'SECONDARY', 2),
        member('db3:27017', 'ARBITER'),
      ],
    });
    const result = await run(check({ hosts: [`127.0.0.1:${db.port}`], replica_set: 'rs0' }));
    expect(result).toMatchObject({
      state: 'ok',
      output: `mongodb replica set rs0 (seen from 127.0.0.1:${db.port}): db1:27017 PRIMARY, db2:27017 SECONDARY (lag 2 s), db3:27017 ARBITER`,
    });
    expect(result.perfdata).toEqual([
      { label: 'members', value: 3, uom: '' },
      { label: 'healthy', value: 3, uom: '' },
      { label: 'max_lag', value: 2, uom: 's', warn: '30' },
    ]);
    expect(db.commands).toContain('replsetgetstatus');
    expect(result.items).toEqual([
      { name: 'db1:27017', state: 'ok', output: 'PRIMARY' },
      { name: 'db2:27017', state: 'ok', output: 'SECONDARY, lag 2 s' },
      { name: 'db3:27017', state: 'ok', output: 'ARBITER' },
    ]);
  });

  it('is CRITICAL without a primary, WARNING on an unhealthy member or a lag over max_lag_seconds', async () => {
    const db = await mongod({
      set: 'rs0',
      members: [member('db1', 'SECONDARY'), member('db2', 'SECONDARY')],
    });
    const host = `127.0.0.1:${db.port}`;
    expect((await run(check({ hosts: host }))).output).toBe(
      `mongodb replica set rs0 (seen from ${host}): no primary: db1 SECONDARY, db2 SECONDARY`,
    );
    db.replSetStatus = {
      set: 'rs0',
      members: [member('db1', 'PRIMARY'), member('db2', '(not reachable/healthy)', 0, 0)],
    };
    const unhealthy = await run(check({ hosts: host }));
    expect(unhealthy.state).toBe('warning');
    expect(unhealthy.output).toContain(': db2 unhealthy: ');
    // The set works (a primary): the member that does not is down.
    expect(unhealthy.items).toEqual([
      { name: 'db1', state: 'ok', output: 'PRIMARY' },
      { name: 'db2', state: 'critical', output: '(not reachable/healthy), health 0' },
    ]);
    db.replSetStatus = { set: 'rs0', members: [member('db1', 'PRIMARY'), member('db2', 'SECONDARY', 90)] };
    const lagging = await run(check({ hosts: host, max_lag_seconds: 60 }));
    expect(lagging.state).toBe('warning');
    expect(lagging.output).toContain('replication lag over 60 s: db1 PRIMARY, db2 SECONDARY (lag 90 s)');
    expect(lagging.items).toEqual([
      { name: 'db1', state: 'ok', output: 'PRIMARY' },
      { name: 'db2', state: 'warning', output: 'SECONDARY, lag 90 s (over max_lag_seconds 60)' },
    ]);
    const other = await run(check({ hosts: host, replica_set: 'other' }));
    expect(other.output).toMatch(/expected replica set other$/);
    // Not the set expected: its members are not reported.
    expect(other.items).toBeUndefined();
  });

  it('pings a standalone server, and asks the next host when one does not answer', async () => {
    const standalone = await mongod();
    const result = await run(check({ hosts: ['127.0.0.1:1', `127.0.0.1:${standalone.port}`] }));
    expect(result.state).toBe('ok');
    expect(result.output).toMatch(
      new RegExp(`^mongodb 127\\.0\\.0\\.1:${standalone.port}: standalone, ping in \\d+ ms$`),
    );
    expect(standalone.commands).toContain('ping');
    expect(result.items).toBeUndefined();
    const expected = await run(check({ host: '127.0.0.1', port: standalone.port, replica_set: 'rs0' }));
    expect(expected.state).toBe('critical');
    expect(expected.output).toContain('not a member of a replica set');
  });

  it('is CRITICAL, naming each host and why, when none answers; refuses a bad definition', async () => {
    const result = await run(check({ hosts: ['127.0.0.1:1', '127.0.0.1:2'] }), 1500);
    expect(result.state).toBe('critical');
    expect(result.output).toMatch(
      /^mongodb: no host answered \(127\.0\.0\.1:1: .*ECONNREFUSED.*; 127\.0\.0\.1:2: .*\)$/,
    );
    expect(() => check({})).toThrow(/hosts: \(or host:\) is required/);
    expect(() => check({ hosts: 'db1:27017/admin' })).toThrow(/is not host or host:port/);
    expect(() => check({ hosts: 'db1', username: 'u' })).toThrow(/go together/);
  });
});
