// The metrics subsystem in a real agent: graphite lines over TCP, rendered through the HTTP API as
// Grafana posts its queries; then SIGKILL right after a flush, and everything flushed is there
// after the restart.
import { connect } from 'node:net';
import { afterEach, expect, it } from 'vitest';
import {
  cleanupAll,
  httpGet,
  prepareAgentDirs,
  startAgent,
  WITHOUT_PACKS,
  type TestAgentDirs,
} from '../helpers/agent-process.js';

afterEach(() => cleanupAll());

interface Info {
  ports: { graphite: number };
}

async function getJson<T>(dirs: TestAgentDirs, path: string, body?: string): Promise<T> {
  const reply = await httpGet(`http://127.0.0.1:${dirs.port}${path}`, {
    ...(body !== undefined
      ? { method: 'POST', body, headers: { 'content-type': 'application/x-www-form-urlencoded' } }
      : {}),
  });
  expect(reply.status, reply.body).toBe(200);
  return JSON.parse(reply.body) as T;
}

function sendLines(port: number, text: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => socket.end(text));
    socket.on('close', () => resolve());
    socket.on('error', reject);
  });
}

it(
  'renders what came over graphite, and keeps what was flushed across a SIGKILL',
  { timeout: 60_000 },
  async () => {
    const dirs = await prepareAgentDirs(`metrics:\n  flush_interval_s: 1\n${WITHOUT_PACKS}`);
    const agent = await startAgent(dirs);
    const { ports } = await getJson<Info>(dirs, '/agent/info');
    const now = Math.floor(Date.now() / 1000);
    const first = now - (now % 10) - 600;
    await sendLines(
      ports.graphite,
      Array.from({ length: 50 }, (_, i) => `crash.test ${i} ${first + i * 10}\n`).join(''),
    );
    await expect
      .poll(
        async () =>
          (await getJson<{ graphite: { lines: number } }>(dirs, '/agent/metrics/stats')).graphite.lines,
      )
      .toBe(50);
    // Grafana's Graphite data source posts a form.
    const form = new URLSearchParams({
      target: 'crash.test',
      from: '-1h',
      until: 'now',
      format: 'json',
      maxDataPoints: '1000',
    });
    type Rendered = Array<{ target: string; datapoints: Array<[number | null, number]> }>;
    const values = (rendered: Rendered) =>
      rendered[0]!.datapoints.map(([value]) => value).filter((value) => value !== null);
    expect(values(await getJson<Rendered>(dirs, '/render', form.toString()))).toEqual(
      Array.from({ length: 50 }, (_, i) => i),
    );
    const save = await getJson<Rendered>(
      dirs,
      '/render',
      'target=constantLine(100)&from=-5min&until=now&format=json',
    );
    expect(save[0]!.datapoints.length).toBeGreaterThan(0);

    // A flush after the lines (flush_interval_s: 1), then SIGKILL.
    const flushesNow = async () =>
      (await getJson<{ store: { flushes: number } }>(dirs, '/agent/metrics/stats')).store.flushes;
    const seen = await flushesNow();
    await expect.poll(flushesNow, { timeout: 10_000 }).toBeGreaterThan(seen + 1);
    agent.process.kill('SIGKILL');
    await agent.exited;
    await startAgent(dirs);
    expect(values(await getJson<Rendered>(dirs, `/render?${form.toString()}`))).toEqual(
      Array.from({ length: 50 }, (_, i) => i),
    );
  },
);
