// HTTP checks benchmark (issue 16): what 10,000 `type: http` checks at a 10 s interval (1,000
// requests/s) cost one agent, beside the same checks as Nagios-plugin checks (`check_http`, spawned
// by the checks engine through its plugin launcher), in one run. The peers run one after the other
// (check_http at 1,000 spawns/s takes both cores; side by side it would starve the other), each
// against the same local web server, a Node process of its own (keep-alive 75 s, as nginx's
// default, so an http check's connection lives from one run to the next; its CPU is not counted):
//   opsbro-http       BENCH_CHECKS http checks `url: http://127.0.0.1:PORT/health`;
//   opsbro-check_http BENCH_SCRIPT_CHECKS script checks `check_http -H 127.0.0.1 -p PORT -u /health`.
// Each agent runs no pack and no collector. After BENCH_SETTLE_SECONDS the bench measures over
// BENCH_SECONDS: CPU % of one core (utime+stime+cutime+cstime over the agent's process tree:
// the plugin launcher and the plugins included), RSS, the scheduler's lag p50/p99 (GET
// /monitoring/scheduler every second), and runs started; CPU per run is what the ratio compares.
// Targets: opsbro-http under 25% of one core, lag p99 under 500 ms, at least 20x less CPU per run
// than check_http.
//
// Setup (once, root):  apt-get install monitoring-plugins-basic      (check_http)
// Run:                 npm run bench:http-checks     (about 4 minutes)
// Environment:         BENCH_CHECKS=10000 BENCH_SCRIPT_CHECKS=10000 BENCH_INTERVAL_S=10
//                      BENCH_CONCURRENCY=32 BENCH_SECONDS=60 BENCH_SETTLE_SECONDS=30
//                      BENCH_PEERS="opsbro-http,opsbro-check_http"
// `node dist/bench/http-checks/index.js --json` prints only the JSON line. Linux only (/proc).
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { CheckSchedulerAnswer } from '../../agent/shared/api-types.js';
import { httpGet } from '../collectors/http.js';
import { shippedPacks, startOpsbro } from '../collectors/peers.js';
import { sampleTree, SeenProcesses, type TreeSample } from '../collectors/proc-tree.js';
import { opsbroLag, treeFigures, type LagFigures, type TreeFigures } from '../checks/measure.js';
import { round } from '../gossip/measure.js';
import {
  describeExit,
  freePort,
  onCleanup,
  runBench,
  running,
  stop,
  stopOnSignals,
  tempDir,
  track,
  type Proc,
} from '../gossip/procs.js';
import { ratio, verdict } from '../gossip/report.js';
import { positiveEnv } from '../lib/env.js';

const JSON_ONLY = process.argv.includes('--json');
const CHECK_HTTP = '/usr/lib/nagios/plugins/check_http';
type PeerName = 'opsbro-http' | 'opsbro-check_http';
const PEER_NAMES: PeerName[] = ['opsbro-http', 'opsbro-check_http'];
/** Checks per conf.d file: a file may hold 100,000 scalars (docs/configuration.md). */
const CHECKS_PER_FILE = 1000;

const log = (msg: string): void => {
  if (!JSON_ONLY) process.stderr.write(`[bench:http-checks] ${msg}\n`);
};
const seen = new SeenProcesses();
const interrupted = stopOnSignals('bench:http-checks', () => seen.killLeftovers());

interface PeerResult extends Partial<TreeFigures>, Partial<LagFigures> {
  name: PeerName;
  checks: number;
  skipped?: string;
  runs?: number;
  runsExpected?: number;
  cpuUsPerRun?: number;
}

/** The web server every check asks: keep-alive longer than the interval, 200 "ok" on /health. */
async function startServer(): Promise<{ proc: Proc; port: number }> {
  const port = await freePort();
  const script = `const server = require('node:http').createServer((req, res) => res.end('ok'));
    server.keepAliveTimeout = 75_000; server.headersTimeout = 80_000; server.maxConnections = 30_000;
    server.listen(${port}, '127.0.0.1', () => process.stdout.write('listening\\n'));`;
  const proc = track('web server', process.execPath, ['-e', script]);
  for (let waited = 0; !proc.output.includes('listening'); waited += 50) {
    if (!running(proc) || waited > 10_000) throw new Error(`web server: ${describeExit(proc)}`);
    await sleep(50);
  }
  return { proc, port };
}

function checkYaml(peer: PeerName, index: number, port: number, intervalS: number): string[] {
  const head = [
    '- check:',
    `    name: ${peer === 'opsbro-http' ? 'http' : 'plugin'}-${index}`,
    `    interval: ${intervalS}s`,
  ];
  if (peer === 'opsbro-http')
    return [...head, '    type: http', `    url: "http://127.0.0.1:${port}/health"`];
  return [...head, `    script: "$nagiosplugins$/check_http -H 127.0.0.1 -p ${port} -u /health"`];
}

async function startPeer(
  dir: string,
  name: PeerName,
  checks: number,
  port: number,
  intervalS: number,
  concurrency: number,
): Promise<{ proc: Proc; url: string }> {
  const confDir = join(dir, name, 'opsbro', 'config', 'conf.d');
  mkdirSync(confDir, { recursive: true });
  writeFileSync(join(confDir, '00-settings.yml'), `checks: {max_concurrent: ${concurrency}}\n`);
  for (let first = 1; first <= checks; first += CHECKS_PER_FILE) {
    const lines: string[] = [];
    for (let index = first; index < Math.min(first + CHECKS_PER_FILE, checks + 1); index++)
      lines.push(...checkYaml(name, index, port, intervalS));
    writeFileSync(join(confDir, `10-checks-${first}.yml`), lines.join('\n') + '\n');
  }
  const started = await startOpsbro(join(dir, name), 'opsbro', shippedPacks(false));
  return { proc: started.proc, url: started.url };
}

async function scheduler(url: string): Promise<CheckSchedulerAnswer> {
  const reply = await httpGet(`${url}/monitoring/scheduler`, 5000);
  if (reply.status !== 200) throw new Error(`GET /monitoring/scheduler answered ${reply.status}`);
  return JSON.parse(reply.body) as CheckSchedulerAnswer;
}

async function measurePeer(
  dir: string,
  name: PeerName,
  checks: number,
  port: number,
  settings: { intervalS: number; concurrency: number; seconds: number; settleS: number },
): Promise<PeerResult> {
  log(`starting ${name}: ${checks} checks every ${settings.intervalS} s`);
  const { proc, url } = await startPeer(dir, name, checks, port, settings.intervalS, settings.concurrency);
  try {
    const first = await scheduler(url);
    if (first.checks !== checks) throw new Error(`${name} runs ${first.checks} checks, expected ${checks}`);
    log(`settling ${settings.settleS} s`);
    await sleep(settings.settleS * 1000);
    log(`measuring ${settings.seconds} s`);
    const samples: TreeSample[] = [];
    const sample = (): void => {
      const taken = running(proc) ? seen.remember(sampleTree(proc.pid)) : undefined;
      if (!taken) throw new Error(`${name}: ${describeExit(proc)}`);
      samples.push(taken);
    };
    const lags: CheckSchedulerAnswer[] = [];
    const t0 = performance.now();
    sample();
    const atStart = await scheduler(url);
    for (let tick = 1; tick <= settings.seconds; tick++) {
      await sleep(Math.max(0, t0 + tick * 1000 - performance.now()));
      if (tick % 5 === 0 || tick === settings.seconds) sample();
      lags.push(await scheduler(url));
    }
    const windowS = (performance.now() - t0) / 1000;
    const atEnd = lags.at(-1)!;
    const result: PeerResult = {
      name,
      checks,
      ...treeFigures(samples, windowS),
      ...opsbroLag(lags),
      runs: atEnd.started - atStart.started,
      runsExpected: Math.round((checks / settings.intervalS) * windowS),
    };
    if (result.runs && result.cpuSeconds !== undefined)
      result.cpuUsPerRun = round((result.cpuSeconds * 1e6) / result.runs, 0);
    return result;
  } finally {
    await stop(proc, 15_000);
  }
}

function table(results: PeerResult[]): string {
  const header = [
    'peer',
    'checks',
    'CPU %',
    'RSS MiB avg/max',
    'lag p50/p99 ms',
    'runs/expected',
    'CPU us/run',
  ];
  const rows = results.map((r) =>
    r.skipped
      ? [r.name, String(r.checks), `skipped: ${r.skipped}`]
      : [
          r.name,
          String(r.checks),
          String(r.cpuPercent),
          `${r.rssMiBAvg}/${r.rssMiBMax}`,
          `${r.lagP50Ms}/${r.lagP99Ms}`,
          `${r.runs}/${r.runsExpected}`,
          String(r.cpuUsPerRun),
        ],
  );
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => (row[i] ?? '').length)));
  return [header, ...rows]
    .map((row) =>
      row
        .map((cell, i) => cell.padEnd(widths[i]!))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

async function main(): Promise<void> {
  if (process.platform !== 'linux') throw new Error('bench:http-checks reads /proc: Linux only');
  const settings = {
    intervalS: positiveEnv('BENCH_INTERVAL_S', 10, true),
    concurrency: positiveEnv('BENCH_CONCURRENCY', 32, true),
    seconds: positiveEnv('BENCH_SECONDS', 60, true),
    settleS: positiveEnv('BENCH_SETTLE_SECONDS', 30, true),
  };
  const counts: Record<PeerName, number> = {
    'opsbro-http': positiveEnv('BENCH_CHECKS', 10_000, true),
    'opsbro-check_http': positiveEnv('BENCH_SCRIPT_CHECKS', 10_000, true),
  };
  const names = (process.env.BENCH_PEERS || PEER_NAMES.join(','))
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean) as PeerName[];
  for (const name of names)
    if (!PEER_NAMES.includes(name))
      throw new Error(`BENCH_PEERS: unknown peer ${name} (${PEER_NAMES.join(', ')})`);

  const dir = tempDir('opsbro-bench-http-checks-');
  onCleanup(() => seen.killLeftovers());
  const server = await startServer();
  const results: PeerResult[] = [];
  for (const name of names) {
    if (name === 'opsbro-check_http' && !existsSync(CHECK_HTTP)) {
      results.push({
        name,
        checks: counts[name],
        skipped: `${CHECK_HTTP} missing (apt-get install monitoring-plugins-basic)`,
      });
      continue;
    }
    results.push(await measurePeer(dir, name, counts[name], server.port, settings));
  }
  await stop(server.proc, 5000);

  const get = (name: PeerName) => results.find((r) => r.name === name && !r.skipped);
  const http = get('opsbro-http');
  const plugin = get('opsbro-check_http');
  const cheaper = ratio(plugin?.cpuUsPerRun, http?.cpuUsPerRun);
  const targets = {
    httpUnder25Percent: http?.cpuPercent === undefined ? null : http.cpuPercent < 25,
    lagP99Under500Ms: http?.lagP99Ms === undefined || http.lagP99Ms === null ? null : http.lagP99Ms < 500,
    atLeast20xCheaperPerRun: cheaper === null ? null : cheaper >= 20,
  };
  const report = {
    bench: 'http-checks',
    node: process.version,
    ...settings,
    peers: results,
    ratio: {
      cpuPerRunCheckHttpOverHttp: cheaper,
      rssCheckHttpOverHttp: ratio(plugin?.rssMiBAvg, http?.rssMiBAvg),
    },
    targets,
  };
  if (!JSON_ONLY) {
    console.log(table(results));
    console.log(
      `check_http costs ${cheaper ?? '-'}x the CPU of an http check per run. targets: opsbro-http < 25% of one core: ` +
        `${verdict(targets.httpUnder25Percent)}; lag p99 < 500 ms: ${verdict(targets.lagP99Under500Ms)}; ` +
        `>= 20x cheaper per run than check_http: ${verdict(targets.atLeast20xCheaperPerRun)}\n`,
    );
  }
  console.log(JSON.stringify(report));
}

runBench('bench:http-checks', main, interrupted);
