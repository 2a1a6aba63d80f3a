// GET /metrics on a real agent: Prometheus' text format as Prometheus' own parser reads it (promtool
// check metrics, from Debian's prometheus package), readable from loopback without a token, with
// the agent's counters moving as the agent works.
import { spawnSync } from 'node:child_process';
import { connect } from 'node:net';
import { afterAll, beforeAll, expect, it } from 'vitest';
import {
  cleanupAll,
  httpGet,
  prepareAgentDirs,
  startAgent,
  WITHOUT_PACKS,
  type TestAgentDirs,
} from '../helpers/agent-process.js';
import { describeWhenAvailable, notInstalled } from '../helpers/requirements.js';

afterAll(cleanupAll);

function promtoolMissing(): string | undefined {
  return spawnSync('promtool', ['--version']).error ? notInstalled('promtool', 'prometheus') : undefined;
}

/** The value of one sample line (`name{labels} value`), or undefined. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((each) => each.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describeWhenAvailable('the Prometheus exposition', promtoolMissing(), () => {
  let dirs: TestAgentDirs;
  const scrape = async () => {
    const reply = await httpGet(`http://127.0.0.1:${dirs.port}/metrics`);
    expect(reply.status).toBe(200);
    expect(reply.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
    return reply.body;
  };

  beforeAll(async () => {
    dirs = await prepareAgentDirs(`node_name: scraped\n${WITHOUT_PACKS}`);
    await startAgent(dirs);
  });

  it("is read by Prometheus' own parser, without a token from loopback", async () => {
    const text = await scrape();
    const checked = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
    const said = `${checked.stdout}${checked.stderr}`;
    // promtool exits 1 on what its parser refuses, 3 with naming advice only (lint). Its advice
    // on prom-client's own nodejs_* defaults (a gauge named *_total) is prom-client's to take;
    // opsbro's families must draw none.
    expect(said).not.toMatch(/parsing error/);
    expect([0, 3], said).toContain(checked.status);
    const remarks = said.split('\n').filter((line) => line.trim() !== '');
    expect(
      remarks.filter((line) => !line.startsWith('nodejs_')),
      said,
    ).toEqual([]);
    for (const family of [
      'opsbro_api_requests_total',
      'opsbro_gossip_packets_total',
      'opsbro_gossip_dropped_packets_total',
      'opsbro_gossip_members',
      'opsbro_gossip_membership_repairs_total',
      'opsbro_rpc_requests_total',
      'opsbro_rpc_connections_opened_total',
      'opsbro_statsd_readers',
      'opsbro_checks',
      'opsbro_detectors',
      'opsbro_dns_queries_total',
      'opsbro_metrics_series',
      'opsbro_graphite_lines_total',
      'process_cpu_seconds_total',
      'process_resident_memory_bytes',
      // The event loop's delay histogram, still exposed with its coarser sampling (agent/core/prometheus.ts).
      'nodejs_eventloop_lag_p99_seconds',
    ])
      expect(text, family).toContain(`# TYPE ${family} `);
    expect(sample(text, 'opsbro_gossip_members{state="alive"}')).toBe(1);
    expect(sample(text, 'process_resident_memory_bytes')).toBeGreaterThan(10 * 1024 * 1024);
  });

  it('counts what the agent does between two scrapes', async () => {
    const before = await scrape();
    const info = JSON.parse((await httpGet(`http://127.0.0.1:${dirs.port}/agent/info`)).body) as {
      ports: { graphite: number };
    };
    await new Promise<void>((resolve, reject) => {
      const socket = connect(info.ports.graphite, '127.0.0.1', () => socket.end('a.b 1 -1\nnot a line\n'));
      socket.on('close', () => resolve());
      socket.on('error', reject);
    });
    await expect
      .poll(async () => sample(await scrape(), 'opsbro_graphite_lines_total'), { timeout: 5_000 })
      .toBe((sample(before, 'opsbro_graphite_lines_total') ?? 0) + 2);
    const after = await scrape();
    expect(sample(after, 'opsbro_graphite_bad_lines_total')).toBe(1);
    expect(sample(after, 'opsbro_metrics_series')).toBe((sample(before, 'opsbro_metrics_series') ?? 0) + 1);
    expect(sample(after, 'opsbro_api_requests_total{code="200"}')).toBeGreaterThan(
      sample(before, 'opsbro_api_requests_total{code="200"}') ?? 0,
    );
  });
});
