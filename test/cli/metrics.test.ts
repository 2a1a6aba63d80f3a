// `opsbro metrics` against a real agent: series sent over graphite are listed (all, or by glob),
// shown as sparklines with their last, lowest and highest values, and as JSON; a target without
// values exits 1 saying so.
import { connect } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sparkline } from '../../cli/commands/metrics.js';
import { cleanupAll, prepareAgentDirs, runCli, startAgent, WITHOUT_PACKS } from '../helpers/agent-process.js';

afterAll(cleanupAll);

function sendLines(port: number, text: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => socket.end(text));
    socket.on('close', () => resolve());
    socket.on('error', reject);
  });
}

describe('opsbro metrics', () => {
  let api: string;
  const metrics = (...args: string[]) => runCli(['metrics', ...args, '--api', api]);

  beforeAll(async () => {
    const dirs = await prepareAgentDirs(`node_name: metrics-cli\n${WITHOUT_PACKS}`);
    await startAgent(dirs);
    api = `unix:${join(dirs.dataDir, 'api.sock')}`;
    const info = JSON.parse(runCli(['agent', 'info', '--json', '--api', api]).stdout) as {
      ports: { graphite: number };
    };
    const now = Math.floor(Date.now() / 1000);
    const start = now - (now % 10) - 300;
    const lines: string[] = [];
    for (let i = 0; i < 30; i++) {
      lines.push(`web.requests ${i * 2} ${start + i * 10}`, `web.errors ${i % 3} ${start + i * 10}`);
    }
    lines.push(`db.queries 7 ${start}`);
    await sendLines(info.ports.graphite, lines.join('\n') + '\n');
    for (const deadline = Date.now() + 10_000; !metrics('list').stdout.includes('web.requests');) {
      if (Date.now() > deadline) throw new Error('the lines sent over graphite were not stored within 10 s');
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  });

  it('lists every series, or those a glob matches', () => {
    expect(metrics('list').stdout).toBe('db.queries\nweb.errors\nweb.requests\n');
    expect(metrics('list', 'web.*').stdout).toBe('web.errors\nweb.requests\n');
    expect(JSON.parse(metrics('list', '{db,web}.q*', '--json').stdout)).toEqual(['db.queries']);
  });

  it('shows a target as sparklines with last, min and max, and as JSON', () => {
    const shown = metrics('show', 'web.*', '--from', '-15min');
    expect(shown.code, shown.stderr).toBe(0);
    const rows = shown.stdout.trim().split('\n');
    expect(rows[0]).toMatch(/SERIES\s+-15min \.\. now\s+LAST\s+MIN\s+MAX/);
    expect(rows[1]).toMatch(/^web\.errors\s+\S.*\s2\s+0\s+2$/);
    expect(rows[2]).toMatch(/^web\.requests\s+.*▁.*█.*\s58\s+0\s+58$/);
    const json = JSON.parse(
      metrics('show', 'sumSeries(web.*)', '--from', '-15min', '--json').stdout,
    ) as Array<{
      target: string;
      datapoints: Array<[number | null, number]>;
    }>;
    expect(json[0]!.target).toBe('sumSeries(web.*)');
    expect(json[0]!.datapoints.map(([value]) => value).filter((value) => value !== null)).toHaveLength(30);
    const none = metrics('show', 'no.such.series');
    expect(none.code).toBe(1);
    expect(none.stderr).toContain('no values for no.such.series');
  });

  it('draws the lowest value as the lowest bar, the highest as the highest, a gap as a blank', () => {
    expect(sparkline([0, 1, 2, 3, 4, 5, 6, 7])).toBe('▁▂▃▄▅▆▇█');
    expect(sparkline([1, null, 1])).toBe('▄ ▄');
    expect(sparkline(Array.from({ length: 120 }, (_, i) => (i < 60 ? 0 : 10)))).toBe(
      '▁'.repeat(30) + '█'.repeat(30),
    );
  });
});
