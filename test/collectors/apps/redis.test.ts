// The redis collector against real redis-server processes (one open, one with a password) started by
// the test on free 127.0.0.1 ports, plus a refused port and a server that accepts and never answers.
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { parseRedisInfo, redisCollectorType } from '../../../agent/collectors/apps/redis.js';
import { RedisConnection } from '../../../agent/collectors/apps/redis-client.js';
import {
  type ServerProcess,
  cleanupAll,
  collectError,
  collectorsOf,
  expectConnectionRefused,
  expectSilentServerTimeout,
  findBinary,
  freePort,
  retryOnPortTaken,
  runContext,
  startServer,
  stopServer,
  tempDir,
  waitUntil,
} from './servers.js';

import { describeWhenAvailable, notInstalled } from '../../helpers/requirements.js';
const REDIS_SERVER = findBinary('redis-server');

const PASSWORD = 's3cret-Pa55';

interface RunningRedis {
  server: ServerProcess;
  port: number;
  dir: string;
}

/** A redis-server on a free port (again on another if that one was taken meanwhile). */
function startRedis(extraArgs: string[] = []): Promise<RunningRedis> {
  return retryOnPortTaken('redis-server', () => startRedisOnce(extraArgs));
}

async function startRedisOnce(extraArgs: string[]): Promise<RunningRedis> {
  const dir = tempDir('opsbro-redis-');
  const port = await freePort();
  const args = [
    '--port',
    String(port),
    '--bind',
    '127.0.0.1',
    '--save',
    '',
    '--appendonly',
    'no',
    '--dir',
    dir,
  ];
  args.push('--unixsocket', join(dir, 'redis.sock'), '--unixsocketperm', '700', ...extraArgs);
  const server = startServer('redis', REDIS_SERVER ?? 'redis-server', args, { dir });
  const running = { server, port, dir };
  try {
    await waitUntil(
      'redis-server',
      async () => {
        const connection = await RedisConnection.connect(
          { host: '127.0.0.1', port },
          AbortSignal.timeout(1000),
        );
        connection.close();
        return true;
      },
      15_000,
      server,
    );
  } catch (error) {
    await stopServer(server);
    throw error;
  }
  return running;
}

/** Sends raw commands to the server (test setup), authenticated when `password` is given; returns the replies. */
async function redisCommands(port: number, commands: string[][], password?: string): Promise<unknown[]> {
  const connection = await RedisConnection.connect({ host: '127.0.0.1', port }, AbortSignal.timeout(2000));
  try {
    if (password) await connection.command(['AUTH', password], AbortSignal.timeout(2000));
    const replies: unknown[] = [];
    for (const command of commands)
      replies.push(await connection.command(command, AbortSignal.timeout(2000)));
    return replies;
  } finally {
    connection.close();
  }
}

describe('parseRedisInfo', () => {
  it('splits sections, keeps identifiers as strings and parses key=value lists', () => {
    const info = parseRedisInfo(
      '# Server\r\nredis_version:7.0.15\r\nredis_git_sha1:00000000\r\nuptime_in_seconds:12\r\n\r\n' +
        '# Memory\r\nmem_fragmentation_ratio:1.25\r\n\r\n# Keyspace\r\ndb0:keys=3,expires=1,avg_ttl=900\r\n',
    );
    expect(info).toEqual({
      server: { redis_version: '7.0.15', redis_git_sha1: '00000000', uptime_in_seconds: 12 },
      memory: { mem_fragmentation_ratio: 1.25 },
      keyspace: { db0: { keys: 3, expires: 1, avg_ttl: 900 } },
    });
  });
});

describeWhenAvailable(
  'redis collector against redis-server',
  REDIS_SERVER ? undefined : notInstalled('redis-server', 'redis-server'),
  () => {
    let open: RunningRedis | undefined;
    let protectedRedis: RunningRedis | undefined;
    const { create, closeAll } = collectorsOf(redisCollectorType);

    beforeAll(async () => {
      [open, protectedRedis] = await Promise.all([startRedis(), startRedis(['--requirepass', PASSWORD])]);
    }, 40_000);

    afterAll(async () => {
      await closeAll();
      await Promise.all([stopServer(open?.server), stopServer(protectedRedis?.server)]);
      cleanupAll();
    });

    it('reports INFO by section with numbers, the keyspace, PING latency and rates', async () => {
      const port = open!.port;
      await redisCommands(port, [
        ['SET', 'a', '1'],
        ['SET', 'b', '2'],
        ['SET', 'c', '3', 'EX', '3600'],
      ]);
      const collector = create({ port });
      const first = await collector.collect(runContext());
      const server = first.server as Record<string, unknown>;
      expect(server.redis_version).toMatch(/^\d+\.\d+\.\d+/);
      expect(server.tcp_port).toBe(port);
      expect(typeof server.uptime_in_seconds).toBe('number');
      expect((first.clients as Record<string, unknown>).connected_clients).toBeGreaterThanOrEqual(1);
      expect(typeof (first.memory as Record<string, unknown>).used_memory).toBe('number');
      expect((first.replication as Record<string, unknown>).role).toBe('master');
      expect(first.keyspace).toEqual({ db0: { keys: 3, expires: 1, avg_ttl: expect.any(Number) as number } });
      expect(first.latency_ms).toBeGreaterThan(0);
      expect(first.latency_ms).toBeLessThan(1000);
      const stats = first.stats as Record<string, number>;
      expect(typeof stats.instantaneous_ops_per_sec).toBe('number');
      // First run: since the server's uptime (whole seconds: 0 for a server started this second).
      expect(stats.commands_processed_s).toBeGreaterThanOrEqual(0);
      const processedBefore = stats.total_commands_processed!;

      // 50 commands between two runs: the counter grows accordingly and the rate is over the interval.
      await redisCommands(
        port,
        Array.from({ length: 50 }, (_, i) => ['SET', `k${i}`, 'v']),
      );
      const second = await collector.collect(runContext());
      const stats2 = second.stats as Record<string, number>;
      // 50 SETs + this run's PING and INFO (+ the first run's INFO, counted once it completed).
      expect(stats2.total_commands_processed! - processedBefore).toBeGreaterThanOrEqual(52);
      expect(stats2.commands_processed_s).toBeGreaterThan(0);
      expect((second.keyspace as Record<string, Record<string, number>>).db0!.keys).toBe(53);
    });

    it('reuses its connection between runs', async () => {
      const collector = create({ port: open!.port });
      const first = await collector.collect(runContext());
      const second = await collector.collect(runContext());
      const received = (data: typeof first): number =>
        (data.stats as Record<string, number>).total_connections_received!;
      expect(received(second)).toBe(received(first));
    });

    it('reads through the unix socket setting', async () => {
      const collector = create({ socket: join(open!.dir, 'redis.sock'), port: 1 });
      const data = await collector.collect(runContext());
      expect((data.server as Record<string, unknown>).tcp_port).toBe(open!.port);
    });

    it('authenticates with the password setting', async () => {
      const port = protectedRedis!.port;
      await redisCommands(port, [['SET', 'only', 'one']], PASSWORD);
      const data = await create({ port, password: PASSWORD }).collect(runContext());
      expect(data.keyspace).toEqual({ db0: { keys: 1, expires: 0, avg_ttl: 0 } });
      expect(JSON.stringify(data)).not.toContain(PASSWORD);
    });

    it('fails clearly with a wrong password, without showing it', async () => {
      const port = protectedRedis!.port;
      const wrong = 'wrong-Pa55word';
      const error = await collectError(create({ port, password: wrong }));
      expect(error?.message).toMatch(
        new RegExp(`^redis 127\\.0\\.0\\.1:${port}: authentication failed: WRONGPASS`),
      );
      expect(error?.message).not.toContain(wrong);
    });

    it('says a password is needed when none is set', async () => {
      const port = protectedRedis!.port;
      await expect(create({ port }).collect(runContext())).rejects.toThrow(
        `redis 127.0.0.1:${port}: NOAUTH Authentication required. (set the collector's password setting)`,
      );
    });

    it('reconnects after the server dropped its connection', async () => {
      const port = open!.port;
      const collector = create({ port });
      await collector.collect(runContext());
      const [killed] = await redisCommands(port, [['CLIENT', 'KILL', 'TYPE', 'normal', 'SKIPME', 'yes']]);
      expect(killed).toBeGreaterThanOrEqual(1);
      // The run right after the drop may still hold the old connection, its close not read yet: that
      // run fails with the connection's error, and the next one connects again. At most one run lost.
      let first: Error | undefined;
      try {
        await collector.collect(runContext());
      } catch (error) {
        first = error as Error;
      }
      if (first) {
        expect(first.message).toMatch(
          new RegExp(
            `^redis 127\\.0\\.0\\.1:${port}: (connection closed by the server|.*(ECONNRESET|EPIPE))`,
          ),
        );
      }
      const data = await collector.collect(runContext());
      expect(typeof data.latency_ms).toBe('number');
    });
  },
);

describe('redis collector error paths', () => {
  it('reports a refused port', async () => {
    const port = await freePort();
    const collector = redisCollectorType.create({ ...redisCollectorType.defaultSettings, port });
    await expectConnectionRefused(collector, `redis 127.0.0.1:${port}`);
  });

  it('aborts a server that accepts and never answers at the timeout', async () => {
    await expectSilentServerTimeout(
      (port) => redisCollectorType.create({ ...redisCollectorType.defaultSettings, port }),
      () => /^redis 127\.0\.0\.1:\d+: timed out/,
      { timeoutMs: 400 },
      async (collector, port) => {
        // The scheduler's own abort reason is the message when it aborts first.
        const controller = new AbortController();
        setTimeout(() => controller.abort(new Error('timed out after 0.2 s')), 200);
        await expect(
          collector.collect({ paths: runContext().paths, signal: controller.signal, timeoutMs: 5000 }),
        ).rejects.toThrow(`redis 127.0.0.1:${port}: timed out after 0.2 s`);
      },
    );
  });
});
