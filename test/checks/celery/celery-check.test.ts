// The celery check against a real RabbitMQ and real Celery workers (test/checks/celery/servers.ts):
// the workers that answer its ping are those `celery inspect ping` sees; missing expected workers,
// too few workers, a worker killed between runs, an unreachable broker and a refused login are
// CRITICAL, saying which, and the broker's password is never in what it reports.
import { createServer, connect, type AddressInfo, type Server, type Socket } from 'node:net';

import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';

import type { CheckResult, CheckRunner } from '../../../agent/checks/check-type.js';
import { CELERY_CHECK_TYPE } from '../../../agent/checks/types/celery.js';
import { cleanupAll, tempDir } from '../../helpers/agent-process.js';
import { describeWhenAvailable } from '../../helpers/requirements.js';
import { runService, SERVICE_DEPENDENCIES } from '../service-fixtures.js';
import { type Broker, TestProcesses, celeryTestsMissing } from './servers.js';

const runners: CheckRunner[] = [];

function check(body: Record<string, unknown>): CheckRunner {
  const runner = CELERY_CHECK_TYPE.create(
    { name: 'workers', body, packParameters: {} },
    SERVICE_DEPENDENCIES,
  );
  runners.push(runner);
  return runner;
}

afterEach(async () => {
  for (const runner of runners.splice(0)) await runner.close?.();
});

/** Everything a result shows: its output, long output and perfdata. */
function shown(result: CheckResult): string {
  return JSON.stringify(result);
}

describeWhenAvailable('celery check against rabbitmq-server and celery workers', celeryTestsMissing(), () => {
  let processes: TestProcesses;
  let broker: Broker;
  let where = '';

  beforeAll(async () => {
    processes = new TestProcesses(tempDir('opsbro-celery-'));
    const startedAt = Date.now();
    broker = await processes.startBroker();
    where = `celery amqp://guest:**@127.0.0.1:${broker.port}//`;
    await processes.startWorker('w1@opsbro-test', broker.url());
    console.info(`rabbitmq-server and a celery worker ready in ${Date.now() - startedAt} ms`);
  }, 120_000);

  afterAll(async () => {
    for (const runner of runners.splice(0)) await runner.close?.();
    try {
      await processes?.stopAll();
    } finally {
      cleanupAll();
    }
  }, 60_000);

  it('is OK naming the one worker up, as `celery inspect ping` sees it; CRITICAL under min_workers', async () => {
    const startedAt = Date.now();
    const result = await runService(check({ broker: broker.url() }));
    expect(result).toEqual({
      state: 'ok',
      output: `${where}: 1 worker answered: w1@opsbro-test`,
      items: [{ name: 'w1@opsbro-test', state: 'ok', output: 'answered pong' }],
      perfdata: [{ label: 'workers', value: 1, uom: '', crit: '1:', min: 0 }],
    });
    // The default reply_timeout: 1 s of waiting for replies, as celery inspect ping.
    expect(Date.now() - startedAt).toBeGreaterThanOrEqual(1000);
    expect(await processes.inspectPing(broker.url())).toEqual(['w1@opsbro-test']);

    const tooFew = await runService(check({ broker: broker.url(), min_workers: 2, reply_timeout: '500ms' }));
    expect(tooFew.state).toBe('critical');
    expect(tooFew.output).toBe(
      `${where}: 1 worker answered within 0.5 s, 2 required (min_workers): w1@opsbro-test`,
    );
    expect(tooFew.perfdata).toEqual([{ label: 'workers', value: 1, uom: '', crit: '2:', min: 0 }]);
  });

  it('bounds the wait for replies by the run timeout', async () => {
    const startedAt = Date.now();
    const result = await runService(check({ broker: broker.url(), reply_timeout: 10 }), 1500);
    const tookMs = Date.now() - startedAt;
    expect(result.state).toBe('ok');
    expect(result.output).toBe(`${where}: 1 worker answered: w1@opsbro-test`);
    expect(tookMs).toBeLessThan(1500);
  });

  it('with two workers, is CRITICAL naming an expected worker that does not answer', async () => {
    const w2 = await processes.startWorker('w2@opsbro-test', broker.url());
    try {
      const names = ['w1@opsbro-test', 'w2@opsbro-test'];
      expect(await processes.inspectPing(broker.url())).toEqual(names);
      const both = await runService(
        check({ broker: broker.url(), workers: names, min_workers: 2, reply_timeout: '500ms' }),
      );
      expect(both).toMatchObject({
        state: 'ok',
        output: `${where}: 2 workers answered: w1@opsbro-test, w2@opsbro-test`,
      });
      const missing = await runService(
        check({ broker: broker.url(), workers: [...names, 'w3@opsbro-test'], reply_timeout: '500ms' }),
      );
      expect(missing.state).toBe('critical');
      expect(missing.output).toBe(
        `${where}: w3@opsbro-test did not answer within 0.5 s; 2 answered: w1@opsbro-test, w2@opsbro-test`,
      );
      expect(missing.perfdata[0]?.value).toBe(2);
      // One item per worker: the expected ones in their order, the one missing CRITICAL.
      expect(missing.items).toEqual([
        { name: 'w1@opsbro-test', state: 'ok', output: 'answered pong' },
        { name: 'w2@opsbro-test', state: 'ok', output: 'answered pong' },
        { name: 'w3@opsbro-test', state: 'critical', output: 'did not answer within 0.5 s' },
      ]);
    } finally {
      await processes.kill(w2);
    }
  });

  it('is CRITICAL on the next run after a worker is killed (SIGKILL), on the same connection', async () => {
    const w4 = await processes.startWorker('w4@opsbro-test', broker.url());
    const proxy = await startProxy(broker.port);
    try {
      const runner = check({
        broker: `amqp://guest:guest@127.0.0.1:${proxy.port}//`,
        workers: ['w1@opsbro-test', 'w4@opsbro-test'],
        reply_timeout: '500ms',
      });
      const proxied = `celery amqp://guest:**@127.0.0.1:${proxy.port}//`;
      expect(await runService(runner)).toMatchObject({
        state: 'ok',
        output: `${proxied}: 2 workers answered: w1@opsbro-test, w4@opsbro-test`,
      });
      await processes.kill(w4);
      expect(await runService(runner)).toMatchObject({
        state: 'critical',
        output: `${proxied}: w4@opsbro-test did not answer within 0.5 s; 1 answered: w1@opsbro-test`,
      });
      // One connection for both runs.
      expect(proxy.accepted()).toBe(1);

      // The connection cut: the next run opens another and answers as before.
      proxy.cutAll();
      const after = await runService(runner);
      expect(after.state).toBe('critical');
      expect(after.output).toContain('w4@opsbro-test did not answer');
      expect(proxy.accepted()).toBe(2);
      await runner.close?.();
      await expectSoon(() => proxy.open() === 0);
      // Nothing left on the broker: each run's reply queue went with its consumer, the killed
      // worker's mailbox queue with its connection.
      const queues = await broker.ctl('list_queues', '--quiet', '--no-table-headers', 'name', 'exclusive');
      expect(queues).toContain('w1@opsbro-test.celery.pidbox');
      expect(queues).not.toContain('w4@opsbro-test');
      expect(queues).not.toMatch(/reply\.celery\.pidbox\s+true/);
    } finally {
      await proxy.close();
    }
  });

  it('is CRITICAL saying it could not connect when nothing listens on the port, without the password', async () => {
    const closed = await closedPort();
    const result = await runService(
      check({ broker: `amqp://monitor:S3cret-Pa55@127.0.0.1:${closed}/prod`, reply_timeout: '500ms' }),
    );
    expect(result).toEqual({
      state: 'critical',
      output: `celery amqp://monitor:**@127.0.0.1:${closed}/prod: could not connect to the broker: connection refused (is the broker running and listening on 127.0.0.1:${closed}?)`,
      perfdata: [],
    });
    expect(shown(result)).not.toContain('S3cret');
  });

  it('is CRITICAL saying the login was refused for a wrong password, without the password', async () => {
    const result = await runService(
      check({ broker: broker.url('guest', 'Wr0ng-Pa55/w0rd'), reply_timeout: '500ms' }),
    );
    expect(result).toEqual({
      state: 'critical',
      output: `${where}: the broker refused the login of user "guest" (ACCESS_REFUSED: wrong user or password)`,
      perfdata: [],
    });
    expect(shown(result)).not.toContain('Wr0ng');
    const vhost = await runService(
      check({ broker: `amqp://guest:guest@127.0.0.1:${broker.port}/no-such-vhost`, reply_timeout: '500ms' }),
    );
    expect(vhost.state).toBe('critical');
    expect(vhost.output).toBe(
      `celery amqp://guest:**@127.0.0.1:${broker.port}/no-such-vhost: the broker refused vhost "no-such-vhost" to user "guest" (no such vhost, or no permission on it)`,
    );
  });

  it('is CRITICAL on a vhost where no worker ever started, declaring nothing of the workers there', async () => {
    await broker.ctl('add_vhost', 'empty');
    await broker.ctl('set_permissions', '-p', 'empty', 'guest', '.*', '.*', '.*');
    const url = `amqp://guest:guest@127.0.0.1:${broker.port}/empty`;
    const result = await runService(check({ broker: url, reply_timeout: '500ms' }));
    expect(result).toMatchObject({
      state: 'critical',
      output: `celery amqp://guest:**@127.0.0.1:${broker.port}/empty: no worker answered within 0.5 s (no celery.pidbox exchange: no worker has started on this vhost)`,
      perfdata: [{ label: 'workers', value: 0, uom: '', crit: '1:', min: 0 }],
    });
    // The workers' exchange was only looked for, not declared: it is still not there.
    const amqp = await import('amqplib');
    const connection = await amqp.connect(url);
    try {
      const channel = await connection.createChannel();
      channel.on('error', () => undefined);
      await expect(channel.checkExchange('celery.pidbox')).rejects.toMatchObject({ code: 404 });
    } finally {
      await connection.close();
    }
    // min_workers: 0 and no workers named: none is fine.
    const none = await runService(check({ broker: url, reply_timeout: '500ms', min_workers: 0 }));
    expect(none.state).toBe('ok');
    expect(none.output).toMatch(/: 0 workers answered: none$/);
    expect(none.items).toBeUndefined();
  }, 60_000);

  // It sets a memory alarm on the shared broker, and clears it at its end.
  it('is CRITICAL at once, saying why, when the broker blocks publishers (a memory alarm)', async () => {
    const runner = check({ broker: broker.url(), reply_timeout: '500ms' });
    expect((await runService(runner)).state).toBe('ok');
    await broker.ctl('set_vm_memory_high_watermark', '0.00001');
    try {
      const startedAt = Date.now();
      const blocked = await runService(runner, 10_000);
      expect(blocked).toEqual({
        state: 'critical',
        output: `${where}: the broker blocks publishers (low on memory): the workers cannot be pinged, nor sent tasks`,
        perfdata: [],
      });
      expect(Date.now() - startedAt).toBeLessThan(5000);
    } finally {
      await broker.ctl('set_vm_memory_high_watermark', '0.4');
    }
    await expectSoon(async () => (await runService(runner)).state === 'ok', 15_000);
  }, 60_000);

  it('is CRITICAL, timed out, when the broker accepts and never answers', async () => {
    const silent = await startSilentServer();
    try {
      const startedAt = Date.now();
      const result = await runService(
        check({ broker: `amqp://u:p4ssw0rd@127.0.0.1:${silent.port}//` }),
        1000,
      );
      expect(Date.now() - startedAt).toBeLessThan(1500);
      expect(result.state).toBe('critical');
      expect(result.output).toBe(
        `celery amqp://u:**@127.0.0.1:${silent.port}//: could not connect to the broker: timed out`,
      );
    } finally {
      await silent.close();
    }
  });
});

async function expectSoon(condition: () => boolean | Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** A port nothing listens on (bound, then released). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

interface Proxy {
  port: number;
  /** Connections accepted so far. */
  accepted(): number;
  /** Connections open now. */
  open(): number;
  /** Cuts every open connection (both sides), as a broker restart or a network failure would. */
  cutAll(): void;
  close(): Promise<void>;
}

/** A TCP proxy to 127.0.0.1:`target` that counts the connections it carries. */
async function startProxy(target: number): Promise<Proxy> {
  const pairs = new Set<[Socket, Socket]>();
  let accepted = 0;
  const server: Server = createServer((client) => {
    accepted++;
    const upstream = connect(target, '127.0.0.1');
    const pair: [Socket, Socket] = [client, upstream];
    pairs.add(pair);
    client.pipe(upstream);
    upstream.pipe(client);
    const end = (): void => {
      client.destroy();
      upstream.destroy();
      pairs.delete(pair);
    };
    client.on('close', end).on('error', end);
    upstream.on('close', end).on('error', end);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const cutAll = (): void => {
    for (const [client, upstream] of pairs) {
      client.destroy();
      upstream.destroy();
    }
    pairs.clear();
  };
  return {
    port: (server.address() as AddressInfo).port,
    accepted: () => accepted,
    open: () => pairs.size,
    cutAll,
    close: () => {
      cutAll();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A TCP server that accepts and never answers. */
async function startSilentServer(): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    close: () => {
      for (const socket of sockets) socket.destroy();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
