// The mongodb collector through the real driver against a stand-in mongod (mongo-wire-server.ts:
// the real wire protocol and BSON on 127.0.0.1; Debian 12 has no MongoDB server package), plus a
// refused port and a server that accepts and never answers.
import { Double, Int32, Long } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it, onTestFinished, vi } from 'vitest';

import { bsonNumber, mongoHosts, mongodbCollectorType } from '../../../agent/collectors/apps/mongodb.js';
import { type MongoWireServer, startMongoWireServer } from '../../helpers/mongo-wire-server.js';
import {
  CONNECTION_REFUSED,
  collectError,
  collectorsOf,
  expectSilentServerTimeout,
  freePort,
  runContext,
} from './servers.js';

/** Above 2^53: the driver hands a Long, which the collector must turn into a number. */
const HUGE_BYTES_IN = Long.fromString('9007199254740993');

function serverStatus(inserts: number, bytesOut: number) {
  return {
    host: 'db1',
    version: '7.0.12',
    process: 'mongod',
    pid: Long.fromNumber(4242),
    uptime: new Double(100),
    uptimeMillis: Long.fromNumber(100_000),
    asserts: { regular: 0, warning: 1, msg: 0, user: new Int32(7), tripwire: 0, rollovers: 0 },
    connections: {
      current: new Int32(12),
      available: 838_848,
      totalCreated: Long.fromNumber(345),
      active: 3,
    },
    globalLock: {
      totalTime: Long.fromNumber(100_000_000),
      currentQueue: { total: 2, readers: 1, writers: 1 },
      activeClients: { total: 4, readers: 2, writers: 2 },
    },
    mem: { bits: 64, resident: new Int32(181), virtual: 2934, supported: true },
    network: {
      bytesIn: HUGE_BYTES_IN,
      bytesOut: Long.fromNumber(bytesOut),
      numRequests: Long.fromNumber(500),
    },
    opcounters: {
      insert: Long.fromNumber(inserts),
      query: Long.fromNumber(200),
      update: 50,
      delete: 0,
      getmore: 0,
      command: Long.fromNumber(1000),
    },
  };
}

describe('bsonNumber and mongoHosts', () => {
  it('turns driver values into numbers', () => {
    expect(bsonNumber(Long.fromNumber(12))).toBe(12);
    expect(bsonNumber(HUGE_BYTES_IN)).toBe(9007199254740992);
    expect(bsonNumber(new Double(1.5))).toBe(1.5);
    expect(bsonNumber(new Int32(3))).toBe(3);
    expect(bsonNumber(7n)).toBe(7);
    expect(bsonNumber('x')).toBeUndefined();
  });

  it('shows hosts without credentials or options', () => {
    expect(mongoHosts('mongodb://admin:s3cret@h1:27017,h2:27018/admin?replicaSet=rs0')).toBe(
      'h1:27017,h2:27018',
    );
    expect(mongoHosts('mongodb://127.0.0.1:27017/?directConnection=true')).toBe('127.0.0.1:27017');
  });
});

describe('mongodb collector against a wire-protocol server', () => {
  let server: MongoWireServer | undefined;
  const collectors = collectorsOf(mongodbCollectorType);
  const create = (uri: string) => collectors.create({ uri });

  beforeAll(async () => {
    server = await startMongoWireServer(serverStatus(1000, 2000));
  });

  afterAll(async () => {
    await collectors.closeAll();
    await server?.close();
  });

  it('maps serverStatus to numbers, with rates since uptime and then over the interval', async () => {
    const collector = create(`mongodb://127.0.0.1:${server!.port}/?directConnection=true`);
    // The collector's interval clock (performance.now) is the test's: the interval between the two
    // runs is exactly 300 ms, whatever the machine's load (the driver's own timers stay real).
    vi.useFakeTimers({ toFake: ['performance'] });
    onTestFinished(() => void vi.useRealTimers());
    const first = await collector.collect(runContext());
    expect(first).toEqual({
      version: '7.0.12',
      process: 'mongod',
      uptime: 100,
      connections: { current: 12, available: 838_848, totalCreated: 345, active: 3 },
      opcounters: { insert: 1000, query: 200, update: 50, delete: 0, getmore: 0, command: 1000 },
      // First run: counters / uptime (100 s).
      opcounters_s: { insert: 10, query: 2, update: 0.5, delete: 0, getmore: 0, command: 10 },
      mem: { resident: 181, virtual: 2934 },
      network: {
        bytesIn: 9007199254740992,
        bytesOut: 2000,
        numRequests: 500,
        bytesIn_s: 90071992547409.92,
        bytesOut_s: 20,
        numRequests_s: 5,
      },
      asserts: { regular: 0, warning: 1, msg: 0, user: 7, rollovers: 0 },
      globalLock: {
        currentQueue: { total: 2, readers: 1, writers: 1 },
        activeClients: { total: 4, readers: 2, writers: 2 },
      },
    });
    expect(server!.commands).toContain('serverstatus');

    vi.advanceTimersByTime(300);
    server!.serverStatus = { ...serverStatus(1600, 2000), uptime: new Double(100.3) };
    const second = await collector.collect(runContext());
    // 600 inserts over the 300 ms between the runs.
    expect((second.opcounters_s as Record<string, number>).insert).toBe(2000);
    expect((second.opcounters_s as Record<string, number>).query).toBe(0);
    expect((second.network as Record<string, number>).bytesOut_s).toBe(0);
  });

  it('reports the replication role when serverStatus has one', async () => {
    server!.serverStatus = {
      ...serverStatus(1, 1),
      repl: { setName: 'rs0', isWritablePrimary: false, secondary: true, hosts: ['a:1'] },
    };
    const data = await create(`mongodb://127.0.0.1:${server!.port}/?directConnection=true`).collect(
      runContext(),
    );
    expect(data.repl).toEqual({ setName: 'rs0', isWritablePrimary: false, secondary: true });
  });

  it("passes the server's error on, without the URI's password", async () => {
    server!.serverStatusError = {
      ok: 0,
      errmsg: 'command serverStatus requires authentication',
      code: 13,
      codeName: 'Unauthorized',
    };
    try {
      const collector = create(`mongodb://127.0.0.1:${server!.port}/?directConnection=true`);
      await expect(collector.collect(runContext())).rejects.toThrow(
        `mongodb 127.0.0.1:${server!.port}: command serverStatus requires authentication`,
      );
    } finally {
      delete server!.serverStatusError;
    }
  });
});

describe('mongodb collector error paths', () => {
  it('reports a refused port without the password', async () => {
    const port = await freePort();
    const collector = mongodbCollectorType.create({
      uri: `mongodb://monitor:Pa55w0rd@127.0.0.1:${port}/?directConnection=true&authSource=admin`,
    });
    const error = await collectError(collector, runContext(1500));
    expect(error?.message).toBe(`mongodb 127.0.0.1:${port}: ${CONNECTION_REFUSED}`);
    expect(error?.message).not.toContain('Pa55w0rd');
    await collector.close?.();
  });

  it('aborts a server that accepts and never answers at the timeout', async () => {
    await expectSilentServerTimeout(
      (port) => mongodbCollectorType.create({ uri: `mongodb://127.0.0.1:${port}/?directConnection=true` }),
      (port) => new RegExp(`^mongodb 127\\.0\\.0\\.1:${port}: `),
      { timeoutMs: 600, withinMs: 2500 },
    );
  });

  it('rejects a uri that is not a mongodb one', () => {
    expect(() => mongodbCollectorType.create({ uri: 'http://x' })).toThrow(
      'setting uri: must start with mongodb://',
    );
  });
});
