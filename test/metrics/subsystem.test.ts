// The metrics subsystem in-process, with its real sockets on 127.0.0.1 and a real store: statsd
// over UDP flushed into the store, graphite lines over TCP and UDP, collector and perfdata events,
// the render, find and expand routes as Grafana calls them, hostile input on the TCP listener,
// the series limit, and a restart on the same store.
import { createSocket } from 'node:dgram';
import { connect, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { AgentSettingsSchema, type AgentSettings } from '../../agent/config/index.js';
import { SchemaValidator } from '../../agent/config/validate.js';
import { EventBus } from '../../agent/events/index.js';
import { Logger } from '../../agent/log/index.js';
import { MetricsSubsystem } from '../../agent/metrics/index.js';
import { HttpError, HttpReply, type RequestContext, type Route } from '../../agent/shared/http.js';
import { openStore, type Store } from '../../agent/store/index.js';
import { cleanupAll, tempDir } from '../helpers/agent-process.js';

const validator = new SchemaValidator(AgentSettingsSchema);
const running: MetricsSubsystem[] = [];
const stores: Store[] = [];
const sockets: Socket[] = [];

afterEach(async () => {
  for (const socket of sockets.splice(0)) socket.destroy();
  for (const metrics of running.splice(0)) await metrics.stop();
  for (const store of stores.splice(0)) await store.close().catch(() => undefined);
  cleanupAll();
});

/** 2023-11-14T22:00:00Z: a multiple of 600 s, so every archive's slots line up with it. */
const T0 = 1_700_000_000 - (1_700_000_000 % 600);

async function start(options: { dataDir?: string; settings?: Record<string, unknown> } = {}) {
  const dataDir = options.dataDir ?? tempDir('opsbro-metrics-');
  const store = await openStore(dataDir);
  stores.push(store);
  const clock = { ms: T0 * 1000 };
  const events = new EventBus();
  const logged: string[] = [];
  const logger = Logger.create({ level: 'warn', format: 'text', sink: { kind: 'fd', fd: 2 } });
  const settings = validator.withDefaults<AgentSettings>({
    node_name: 'web-1.example',
    statsd: { port: 0 },
    graphite: { port: 0 },
    ...options.settings,
  });
  const metrics = new MetricsSubsystem({
    settings,
    store,
    events,
    logger: Object.assign(logger, {
      warn: (message: string) => void logged.push(message),
    }),
    now: () => clock.ms,
    timers: false,
  });
  await metrics.start();
  running.push(metrics);
  return { metrics, store, clock, events, dataDir, logged, routes: metrics.routes() };
}

async function call(
  routes: Route[],
  method: 'GET' | 'POST',
  path: string,
  params: Record<string, string | string[]>,
): Promise<unknown> {
  const route = routes.find((each) => each.method === method && each.path === path)!;
  const form = new URLSearchParams();
  for (const [key, value] of Object.entries(params))
    for (const one of Array.isArray(value) ? value : [value]) form.append(key, one);
  const context: RequestContext = {
    params: {},
    query: method === 'GET' ? form : new URLSearchParams(),
    body: undefined,
    ...(method === 'POST' ? { rawBody: Buffer.from(form.toString()) } : {}),
    rawPath: path,
    principal: { name: 'loopback', role: 'read' },
    connection: { local: true, reachedAt: '127.0.0.1:6768' },
    signal: new AbortController().signal,
  };
  const answer: unknown = await route.handler(context);
  return answer instanceof HttpReply ? JSON.parse((answer.body as Buffer).toString()) : answer;
}

type Rendered = Array<{ target: string; datapoints: Array<[number | null, number]> }>;

function sendUdp(port: number, payload: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = createSocket('udp4');
    socket.send(payload, port, '127.0.0.1', (error) => {
      socket.close();
      if (error) reject(error);
      else resolve();
    });
  });
}

function openTcp(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => resolve(socket));
    socket.on('error', reject);
    sockets.push(socket);
  });
}

describe('the metrics subsystem', () => {
  it('flushes statsd over UDP into the store, and renders it', async () => {
    const { metrics, clock, routes } = await start();
    const port = metrics.listeningPorts.statsd!;
    await sendUdp(
      port,
      'hits:1|c\nhits:2|c|@0.5\nqueue:10|g\nqueue:-3|g\nlatency:100|ms\nlatency:300|ms\nusers:ann|s\nusers:bob|s\nusers:ann|s',
    );
    await sendUdp(port, 'this is not statsd');
    await expect.poll(() => metrics.statistics().statsd.packets).toBe(2);
    clock.ms = (T0 + 10) * 1000;
    await metrics.flushStatsd();
    clock.ms = (T0 + 20) * 1000;
    const value = async (target: string) => {
      const rendered = (await call(routes, 'GET', '/render', {
        target,
        from: String(T0),
        until: String(T0 + 20),
      })) as Rendered;
      expect(rendered, target).toHaveLength(1);
      return rendered[0]!.datapoints.find(([v]) => v !== null)?.[0];
    };
    expect(await value('stats.counters.hits.count')).toBe(5);
    expect(await value('stats.counters.hits.rate')).toBe(0.5);
    expect(await value('stats.gauges.queue')).toBe(7);
    expect(await value('stats.timers.latency.mean')).toBe(200);
    expect(await value('stats.timers.latency.upper_90')).toBe(300);
    expect(await value('stats.sets.users.count')).toBe(2);
    expect(await value('stats.counters.statsd.bad_lines_seen.count')).toBe(1);
    expect(metrics.statistics().statsd.bad_lines).toBe(1);
  });

  it('takes graphite lines over TCP and UDP, collector numbers and perfdata; find and expand list them', async () => {
    const { metrics, events, routes } = await start();
    const port = metrics.listeningPorts.graphite!;
    const tcp = await openTcp(port);
    tcp.write(`web.cpu.user 12.5 ${T0 - 30}\r\nweb.cpu.system 3 ${T0 - 30}\nnot a line\n`);
    await sendUdp(port, `web.disk.used 80 ${T0 - 30}\nweb.disk.free 20 -1\n`);
    events.emit('metrics', {
      source: 'collector:load',
      timestamp: (T0 - 20) * 1000,
      metrics: [['load.one', 0.5]],
    });
    events.emit('metrics', {
      source: 'check:http',
      timestamp: (T0 - 20) * 1000,
      metrics: [['http.time', 0.12]],
    });
    await expect.poll(() => metrics.statistics().graphite.lines).toBe(5);
    expect(metrics.statistics().graphite.bad_lines).toBe(1);
    const rendered = (await call(routes, 'POST', '/render', {
      target: ['web.cpu.*', 'sumSeries(web.disk.*)'],
      from: String(T0 - 60),
      until: String(T0),
      format: 'json',
    })) as Rendered;
    expect(rendered.map((series) => series.target)).toEqual([
      'web.cpu.system',
      'web.cpu.user',
      'sumSeries(web.disk.*)',
    ]);
    expect(rendered[1]!.datapoints.filter(([v]) => v !== null)).toEqual([[12.5, T0 - 30]]);
    // web.disk.free came at "now" (-1), in another slot than web.disk.used.
    expect(rendered[2]!.datapoints.filter(([v]) => v !== null)).toEqual([
      [80, T0 - 30],
      [20, T0],
    ]);
    const tree = (await call(routes, 'GET', '/metrics/find', { query: '*' })) as Array<{
      id: string;
      leaf: number;
    }>;
    expect(tree.map((node) => node.id)).toEqual(['web', 'web-1_example']);
    const node = (await call(routes, 'GET', '/metrics/find', { query: 'web-1_example.*' })) as Array<{
      id: string;
    }>;
    expect(node.map((each) => each.id)).toEqual(['web-1_example.checks', 'web-1_example.load']);
    // A collector's names start with the collector's own (`load.one`); a check's with the check's.
    expect(
      await call(routes, 'GET', '/metrics/expand', {
        query: ['web-1_example.*.*', 'web-1_example.*.*.*'],
        leavesOnly: '1',
      }),
    ).toEqual({
      results: ['web-1_example.checks.http.time', 'web-1_example.load.one'],
    });
    expect(await call(routes, 'GET', '/metrics/expand', { query: 'web-1_example.*.*' })).toEqual({
      results: ['web-1_example.checks.http', 'web-1_example.load.one'],
    });
    const completer = (await call(routes, 'GET', '/metrics/find', {
      query: 'web.c*',
      format: 'completer',
    })) as {
      metrics: Array<{ path: string; is_leaf: string }>;
    };
    expect(completer.metrics).toEqual([{ path: 'web.cpu.', name: 'cpu', is_leaf: '0' }]);
  });

  it("answers Grafana's Save & test query, and says what is wrong with a bad render", async () => {
    const { routes } = await start();
    const rendered = (await call(routes, 'POST', '/render', {
      target: 'constantLine(100)',
      from: '-1h',
      until: 'now',
      format: 'json',
      maxDataPoints: '100',
    })) as Rendered;
    expect(rendered).toHaveLength(1);
    expect(rendered[0]!.datapoints.every(([value]) => value === 100)).toBe(true);
    const refused = (params: Record<string, string>) =>
      call(routes, 'GET', '/render', params).then(
        () => undefined,
        (error: unknown) => error,
      );
    for (const [params, message] of [
      [{ target: 'sumSeries(a.b', from: '-1h' }, /sumSeries\(a\.b/],
      [{ target: 'noSuchFunction(a.b)' }, /noSuchFunction/],
      [{ target: 'a.b', from: 'yesterdayish' }, /from/],
      [{ target: 'a.b', format: 'png' }, /only format=json/],
      [{ target: 'a.b', maxDataPoints: '0' }, /maxDataPoints/],
    ] as const) {
      const error = await refused(params);
      expect(error, JSON.stringify(params)).toBeInstanceOf(HttpError);
      expect((error as HttpError).status).toBe(400);
      expect((error as HttpError).message).toMatch(message);
    }
  });

  it('keeps serving while a client sends garbage, a 20 MB line and one byte at a time', async () => {
    const { metrics } = await start();
    const port = metrics.listeningPorts.graphite!;
    const slow = await openTcp(port);
    slow.write('slow.metric 1');
    const flood = await openTcp(port);
    const garbage = Buffer.alloc(1024 * 1024, 0x41);
    for (let chunk = 0; chunk < 20; chunk++) flood.write(garbage);
    flood.write(`\nafter.flood 1 ${T0}\n`);
    const random = await openTcp(port);
    random.write(Buffer.from(Array.from({ length: 65_536 }, (_, index) => (index * 7919) % 256)));
    const good = await openTcp(port);
    good.write(`good.one 42 ${T0}\n`);
    await expect.poll(() => metrics.series.has('good.one'), { timeout: 5_000 }).toBe(true);
    await expect.poll(() => metrics.series.has('after.flood'), { timeout: 10_000 }).toBe(true);
    expect(metrics.statistics().graphite.oversized_lines).toBeGreaterThanOrEqual(1);
    expect(metrics.series.has('slow.metric')).toBe(false);
    slow.write(` ${T0}\n`);
    await expect.poll(() => metrics.series.has('slow.metric'), { timeout: 5_000 }).toBe(true);
  });

  it('stops at max_series with one warning a minute, and keeps what it has', async () => {
    const { metrics, logged } = await start({ settings: { metrics: { max_series: 1000 } } });
    const port = metrics.listeningPorts.graphite!;
    const tcp = await openTcp(port);
    const lines = Array.from({ length: 100_000 }, (_, index) => `many.series.s${index} 1 ${T0}\n`).join('');
    tcp.write(lines);
    await expect.poll(() => metrics.statistics().graphite.lines, { timeout: 20_000 }).toBe(100_000);
    expect(metrics.statistics().store).toMatchObject({ series: 1000, dropped_series_points: 99_000 });
    expect(logged.filter((line) => /series limit/.test(line))).toHaveLength(1);
  });

  it('finds everything again after a stop and a start on the same store', async () => {
    const first = await start();
    for (let index = 0; index < 300; index++)
      first.metrics.ingestGraphiteLine(`db.qps ${index} ${T0 - 3000 + index * 10}`);
    await first.metrics.stop();
    running.splice(running.indexOf(first.metrics), 1);
    await first.store.close();
    stores.splice(stores.indexOf(first.store), 1);
    const second = await start({ dataDir: first.dataDir });
    const rendered = (await call(second.routes, 'GET', '/render', {
      target: 'db.qps',
      from: String(T0 - 3010),
      until: String(T0),
    })) as Rendered;
    const values = rendered[0]!.datapoints.map(([value]) => value).filter((value) => value !== null);
    expect(values).toEqual(Array.from({ length: 300 }, (_, index) => index));
  });
});
