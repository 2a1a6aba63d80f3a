// The rabbitmq collector against a real RabbitMQ (Debian's rabbitmq-server, management plugin)
// started by the test: its own epmd on a free 127.0.0.1 port, every RABBITMQ_* path in a temp dir,
// AMQP, management and distribution listeners on free 127.0.0.1 ports. Both are stopped by PID
// (process group, plus the helpers beam leaves behind) in afterAll and the temp dir removed.
import { mkdirSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { CollectedData } from '../../../agent/collectors/collector.js';
import { rabbitmqCollectorType, shapeOverview } from '../../../agent/collectors/apps/rabbitmq.js';
import {
  type ServerProcess,
  cleanupAll,
  collectError,
  expectConnectionRefused,
  expectSilentServerTimeout,
  findBinary,
  freePort,
  runContext,
  rabbitmqEnv,
  startServer,
  stopServer,
  tempDir,
  waitUntil,
} from './servers.js';

import { describeWhenAvailable, notInstalled } from '../../helpers/requirements.js';
const RABBITMQ_SERVER = findBinary('/usr/lib/rabbitmq/bin/rabbitmq-server');
const EPMD = findBinary('epmd');
const AVAILABLE = Boolean(RABBITMQ_SERVER && EPMD);

const GUEST = 'Basic ' + Buffer.from('guest:guest').toString('base64');

describe('shapeOverview', () => {
  it('reads missing totals of a fresh broker as 0', () => {
    const data = shapeOverview({ rabbitmq_version: '3.10.8', queue_totals: {}, message_stats: {} });
    expect(data.version).toBe('3.10.8');
    expect(data.queue_totals).toEqual({ messages: 0, messages_ready: 0, messages_unacknowledged: 0 });
    expect((data.message_stats as Record<string, number>).publish_s).toBe(0);
  });
});

describeWhenAvailable(
  'rabbitmq collector against rabbitmq-server',
  AVAILABLE ? undefined : notInstalled('rabbitmq-server and epmd', 'rabbitmq-server'),
  () => {
    let epmd: ServerProcess | undefined;
    let rabbit: ServerProcess | undefined;
    let managementPort = 0;
    let baseUrl = '';
    let startupMs = 0;

    const api = async (method: string, path: string, body?: unknown): Promise<Response> => {
      const response = await fetch(`${baseUrl}${path}`, {
        method,
        headers: { authorization: GUEST, 'content-type': 'application/json' },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      await response.arrayBuffer();
      if (!response.ok) throw new Error(`${method} ${path}: HTTP ${response.status}`);
      return response;
    };

    beforeAll(async () => {
      const startedAt = Date.now();
      const dir = tempDir('opsbro-rabbitmq-');
      const [epmdPort, amqpPort, distPort] = [await freePort(), await freePort(), await freePort()];
      managementPort = await freePort();
      baseUrl = `http://127.0.0.1:${managementPort}`;
      for (const sub of ['home', 'mnesia', 'log']) mkdirSync(join(dir, sub));
      writeFileSync(join(dir, 'enabled_plugins'), '[rabbitmq_management].\n');
      writeFileSync(
        join(dir, 'rabbitmq.conf'),
        [
          `listeners.tcp.default = 127.0.0.1:${amqpPort}`,
          'management.tcp.ip = 127.0.0.1',
          `management.tcp.port = ${managementPort}`,
          // Stats every 500 ms instead of 5 s, so published messages show up quickly.
          'collect_statistics_interval = 500',
          'log.console = true',
          'log.file = false',
          '',
        ].join('\n'),
      );
      // Our own epmd, loopback only, foreground: its PID is ours to stop.
      epmd = startServer('epmd', EPMD!, ['-address', '127.0.0.1', '-port', String(epmdPort)], { dir });
      const env = rabbitmqEnv(
        dir,
        { epmd: epmdPort, amqp: amqpPort, dist: distPort },
        `opsbro-test-${managementPort}`,
      );
      await waitUntil(
        'epmd',
        () =>
          new Promise<boolean | undefined>((resolve) => {
            const socket = connect(epmdPort, '127.0.0.1');
            socket.once('connect', () => {
              socket.destroy();
              resolve(true);
            });
            socket.once('error', () => resolve(undefined));
          }),
        10_000,
        epmd,
      );
      rabbit = startServer('rabbitmq', RABBITMQ_SERVER!, [], { dir, env });
      await waitUntil(
        'rabbitmq management API',
        async () => {
          const response = await fetch(`${baseUrl}/api/overview`, { headers: { authorization: GUEST } });
          await response.arrayBuffer();
          return response.ok ? true : undefined;
        },
        90_000,
        rabbit,
      );
      startupMs = Date.now() - startedAt;
      console.info(`rabbitmq-server ready in ${startupMs} ms`);
    }, 120_000);

    afterAll(async () => {
      // RabbitMQ shuts down gracefully on SIGTERM in a few seconds; epmd after it.
      await stopServer(rabbit, 20_000);
      await stopServer(epmd);
      cleanupAll();
    }, 40_000);

    it('reports versions, object totals, queue totals and message stats of the broker', async () => {
      const collector = rabbitmqCollectorType.create({
        ...rabbitmqCollectorType.defaultSettings,
        url: baseUrl,
      });
      const fresh = await collector.collect(runContext());
      expect(fresh.version).toMatch(/^\d+\.\d+\.\d+/);
      expect(fresh.erlang_version).toMatch(/^\d+/);
      expect(fresh.node).toBe(`opsbro-test-${managementPort}@localhost`);
      expect((fresh.object_totals as Record<string, number>).queues).toBe(0);
      expect((fresh.object_totals as Record<string, number>).exchanges).toBeGreaterThanOrEqual(7); // the defaults
      expect(fresh.queue_totals).toEqual({ messages: 0, messages_ready: 0, messages_unacknowledged: 0 });

      // A durable queue with 3 messages published through the management API.
      await api('PUT', '/api/queues/%2F/opsbro-test', { durable: false, auto_delete: false });
      for (let i = 0; i < 3; i++) {
        await api('POST', '/api/exchanges/%2F/amq.default/publish', {
          properties: {},
          routing_key: 'opsbro-test',
          payload: `message ${i}`,
          payload_encoding: 'string',
        });
      }
      // Queue totals follow the stats interval (500 ms here): poll the collector until they show.
      const loaded: CollectedData = await waitUntil(
        'queue totals',
        async () => {
          const data = await collector.collect(runContext());
          const totals = data.queue_totals as Record<string, number>;
          const stats = data.message_stats as Record<string, number>;
          return totals.messages === 3 && stats.publish! >= 3 ? data : undefined;
        },
        20_000,
      );
      expect((loaded.object_totals as Record<string, number>).queues).toBe(1);
      expect(loaded.queue_totals).toEqual({ messages: 3, messages_ready: 3, messages_unacknowledged: 0 });
      const stats = loaded.message_stats as Record<string, number>;
      expect(stats.publish).toBe(3);
      expect(typeof stats.publish_s).toBe('number');
      expect(stats.publish_s).toBeGreaterThanOrEqual(0);
    });

    it('fails clearly with a wrong password, without showing it', async () => {
      const collector = rabbitmqCollectorType.create({ url: baseUrl, user: 'guest', password: 'Wr0ng-Pa55' });
      const error = await collectError(collector);
      expect(error?.message).toBe(
        `rabbitmq ${baseUrl}/api/overview: authentication failed for user 'guest' (HTTP 401): check the user and password settings (the guest user only logs in from localhost)`,
      );
      expect(error?.message).not.toContain('Wr0ng-Pa55');
    });

    it('says when the port has no management API', async () => {
      const collector = rabbitmqCollectorType.create({ url: `${baseUrl}/nothing-here` });
      await expect(collector.collect(runContext())).rejects.toThrow(
        `rabbitmq ${baseUrl}/nothing-here/api/overview: HTTP 404: no management API here (is the rabbitmq_management plugin enabled on this port?)`,
      );
    });
  },
);

describe('rabbitmq collector error paths', () => {
  it('reports a refused port', async () => {
    const port = await freePort();
    const collector = rabbitmqCollectorType.create({ url: `http://127.0.0.1:${port}` });
    await expectConnectionRefused(collector, `rabbitmq http://127.0.0.1:${port}/api/overview`);
  });

  it('aborts a server that accepts and never answers at the timeout', async () => {
    await expectSilentServerTimeout(
      (port) => rabbitmqCollectorType.create({ url: `http://127.0.0.1:${port}` }),
      (port) => new RegExp(`^rabbitmq http://127\\.0\\.0\\.1:${port}/api/overview: timed out`),
      { timeoutMs: 500 },
    );
  });
});
