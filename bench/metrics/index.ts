// Metrics benchmark (issue 15), in one run on this machine, each system alone while measured:
// 1. statsd ingest: the highest UDP packet rate with no loss, 10 counters a packet and 1, for an
//    opsbro agent and Etsy statsd (npm `statsd`, its own parsing and aggregation, the same flush
//    interval). Packets come from a C sender (udp-blast.c, sendmmsg) at 20k, 40k ... a second for
//    BENCH_STEP_SECONDS each; a step is lossless when the receiver counted every packet sent
//    (opsbro: its listener's count; statsd: its own statsd.packets_received over the flushes) in
//    one of 3 tries.
// 2. graphite plaintext ingest over TCP: BENCH_SERIES series x 24 h of 10 s points, one
//    connection, into an opsbro agent and into carbon-cache (Debian graphite-carbon, the same
//    retention 10s:6h,1m:7d,10m:1y): lines a second until the receiver has read them all.
// 3. disk bytes per point: the agent's store once stopped, against whisper's files and whisper's
//    12 bytes for each point of each archive.
// 4. /render of the BENCH_SERIES series over 24 h (Grafana's maxDataPoints=1000, and without).
// Targets: statsd 3x Etsy statsd's lossless rate; graphite 5x carbon-cache's lines a second; at
// most a quarter of whisper's bytes a point; /render under 100 ms.
//
// Setup (once, root):  sh bench/metrics/setup.sh
// Run:                 npm run bench:metrics        (about 12 minutes)
// Environment:         BENCH_STEP_SECONDS=3, BENCH_SERIES=100, BENCH_PARTS=statsd,graphite (a subset:
//                      the other's figures print as 0), BENCH_STATSD_READERS=1 (the agent's
//                      statsd.readers: 0 measures the agent reading alone)
// Every process started is stopped by pid, every temp dir removed, at the end, on error and on Ctrl-C.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { connect } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { disabledPacksYaml, shippedPackNames } from '../../agent/config/index.js';
import { positiveEnv } from '../lib/env.js';
import { CARBON_CACHE, carbonConfig, carbonListening } from './carbon-config.js';
import { ratio, verdict } from '../gossip/report.js';
import {
  freePort,
  retryWhileRunning,
  run,
  runBench,
  stop,
  stopOnSignals,
  tempDir,
  track,
  trackAgent,
  type Proc,
} from '../gossip/procs.js';

const STEP_SECONDS = positiveEnv('BENCH_STEP_SECONDS', 3);
const SERIES = positiveEnv('BENCH_SERIES', 100, true);
const POINTS_PER_SERIES = 8640; // 24 h of 10 s points
const RATES = [
  20_000, 40_000, 60_000, 80_000, 100_000, 120_000, 140_000, 180_000, 240_000, 270_000, 300_000, 320_000,
  360_000, 400_000,
];
const FLUSH_SECONDS = 2;
/** The agent's statsd.readers (its default, 1, unless told). */
const STATSD_READERS = Number(process.env.BENCH_STATSD_READERS ?? 1);
/** Pause after a receiver is up, before the graphite load. */
const SETTLE_MS = 2000;
/** Tries of one rate before it counts as lossy. */
const ATTEMPTS = 3;
const PARTS = new Set((process.env.BENCH_PARTS ?? 'statsd,graphite').split(','));
const SOURCE_DIR = fileURLToPath(new URL('../../../bench/metrics/', import.meta.url));
const STATSD = '/opt/opsbro-bench/statsd/node_modules/statsd/stats.js';
const RETENTION = '10s:6h,1m:7d,10m:1y';
/** Whisper: 12 bytes for each point of each archive a raw 10 s point reaches (10 s, 1 min, 10 min). */
const WHISPER_NOMINAL_BYTES = 12 * (1 + 1 / 6 + 1 / 60);
const log = (line: string): void => console.error(`[bench:metrics] ${line}`);

function getJson<T>(port: number, path: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path }, (res) => {
      let body = '';
      res.on('data', (chunk: Buffer) => (body += chunk.toString()));
      res.on('end', () => {
        if (res.statusCode !== 200)
          return reject(new Error(`${path}: HTTP ${res.statusCode} ${body.slice(0, 200)}`));
        try {
          resolve(JSON.parse(body) as T);
        } catch (error) {
          reject(error instanceof Error ? error : new Error(String(error)));
        }
      });
    });
    req.on('error', reject);
    req.end();
  });
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

// --- the systems ----------------------------------------------------------------------------

interface Agent {
  proc: Proc;
  api: number;
  statsd: number;
  graphite: number;
  storeDir: string;
}

async function startAgent(dir: string): Promise<Agent> {
  const [api, statsd, graphite, rpc] = [
    await freePort(),
    await freePort(),
    await freePort(),
    await freePort(),
  ];
  const configDir = join(dir, 'opsbro', 'config');
  const dataDir = join(dir, 'opsbro', 'data');
  mkdirSync(configDir, { recursive: true });
  writeFileSync(
    join(configDir, 'agent.yml'),
    [
      'node_name: bench',
      `api: {bind: 127.0.0.1, port: ${api}}`,
      `rpc: {port: ${rpc}}`,
      'gossip: {port: 0}',
      'dns: {port: 0}',
      `statsd: {port: ${statsd}, interval: ${FLUSH_SECONDS}, readers: ${STATSD_READERS}}`,
      `graphite: {port: ${graphite}}`,
      `metrics: {retention: "${RETENTION}", max_series: 100000}`,
      'log: {level: warn}',
      disabledPacksYaml(shippedPackNames()),
      '',
    ].join('\n'),
  );
  const proc = trackAgent('opsbro', configDir, dataDir);
  await retryWhileRunning(proc, 'API not ready', 60_000, 200, () => getJson(api, '/agent/metrics/stats'));
  return { proc, api, statsd, graphite, storeDir: join(dataDir, 'store') };
}

async function startStatsd(dir: string): Promise<{ proc: Proc; port: number; received: () => number }> {
  const port = await freePort();
  mkdirSync(dir, { recursive: true });
  const config = join(dir, 'statsd-config.js');
  writeFileSync(
    config,
    `module.exports = ${JSON.stringify({
      port,
      address: '127.0.0.1',
      mgmt_port: await freePort(),
      mgmt_address: '127.0.0.1',
      flushInterval: FLUSH_SECONDS * 1000,
      backends: [join(SOURCE_DIR, 'statsd-backend.cjs')],
    })};\n`,
  );
  const proc = track('statsd', process.execPath, [STATSD, config], { cwd: dirname(STATSD) });
  let received = 0;
  const flushes: number[] = [];
  proc.child.stdout?.on('data', (chunk: Buffer) => {
    for (const line of chunk.toString().split('\n')) {
      if (!line.startsWith('FLUSH ')) continue;
      const { packets } = JSON.parse(line.slice(6)) as { packets: number };
      received += packets;
      flushes.push(packets);
    }
  });
  await retryWhileRunning(proc, 'statsd not flushing', 30_000, 200, () =>
    flushes.length ? Promise.resolve() : Promise.reject(new Error('no flush yet')),
  );
  return { proc, port, received: () => received };
}

async function startCarbon(dir: string): Promise<{ proc: Proc; port: number; whisperDir: string }> {
  const root = join(dir, 'carbon');
  const [port, pickle, query] = [await freePort(), await freePort(), await freePort()];
  const { args, whisperDir } = carbonConfig(root, { line: port, pickle, query }, RETENTION);
  const proc = track('carbon-cache', CARBON_CACHE, args, { cwd: root });
  await retryWhileRunning(proc, 'carbon not listening', 30_000, 200, () =>
    proc.output.includes(carbonListening(port)) ? Promise.resolve() : Promise.reject(new Error('not yet')),
  );
  return { proc, port, whisperDir };
}

// --- 1. statsd ------------------------------------------------------------------------------

interface Step {
  rate: number;
  sent: number;
  received: number;
}

async function blast(
  sender: string,
  port: number,
  rate: number,
  perPacket: number,
): Promise<{ sent: number; reached: number }> {
  const { code, output } = await run(
    'udp-blast',
    sender,
    ['127.0.0.1', String(port), String(rate), String(STEP_SECONDS), String(perPacket)],
    (STEP_SECONDS + 10) * 1000,
  );
  const [sent, reached] = output.trim().split(/\s+/).map(Number);
  if (code !== 0 || !Number.isFinite(sent)) throw new Error(`udp-blast failed: ${output}`);
  return { sent: sent!, reached: reached! };
}

/** The highest step of RATES with every packet counted; stops at the first loss. */
async function losslessRate(
  name: string,
  sender: string,
  port: number,
  perPacket: number,
  received: () => Promise<number>,
  settle: () => Promise<void>,
): Promise<{ lossless: number; steps: Step[] }> {
  const steps: Step[] = [];
  let lossless = 0;
  for (const rate of RATES) {
    // A step counts as lossless if one of ATTEMPTS tries is: a single hiccup (a GC pause, another
    // process) is not the rate the receiver sustains. The same for both systems.
    let sent = 0;
    let reached = 0;
    let got = 0;
    for (let attempt = 1; attempt <= ATTEMPTS; attempt++) {
      const before = await received();
      ({ sent, reached } = await blast(sender, port, rate, perPacket));
      await settle();
      got = (await received()) - before;
      log(
        `${name}, ${perPacket}/packet, ${rate}/s, try ${attempt}: sent ${sent} (${reached}/s), counted ${got}`,
      );
      if (got >= sent) break;
    }
    steps.push({ rate, sent, received: got });
    if (got < sent) break;
    if (reached < rate * 0.95) {
      log(`the sender reached only ${reached}/s: stopping here`);
      lossless = reached;
      break;
    }
    lossless = rate;
  }
  return { lossless, steps };
}

// --- 2-4. graphite, bytes, render ----------------------------------------------------------

function graphiteLines(nowSeconds: number): string {
  const start = nowSeconds - (nowSeconds % 10) - POINTS_PER_SERIES * 10;
  const lines: string[] = [];
  for (let point = 0; point < POINTS_PER_SERIES; point++)
    for (let series = 0; series < SERIES; series++)
      lines.push(
        `bench.s${series} ${(series + Math.sin(point / 30) * 10).toFixed(2)} ${start + point * 10}\n`,
      );
  return lines.join('');
}

/** Sends everything over one connection; resolves with the seconds until the receiver closed it. */
function sendLines(port: number, text: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const socket = connect(port, '127.0.0.1', () => socket.end(text));
    socket.on('data', () => undefined);
    socket.on('close', () => resolve((performance.now() - started) / 1000));
    socket.on('error', reject);
  });
}

function dirBytes(dir: string): number {
  let total = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    total += entry.isDirectory() ? dirBytes(path) : statSync(path).size;
  }
  return total;
}

function whisperFiles(dir: string): number {
  if (!existsSync(dir)) return 0;
  return readdirSync(dir, { recursive: true }).filter((name) => String(name).endsWith('.wsp')).length;
}

async function timeRender(api: number, query: string): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < 5; i++) {
    const started = performance.now();
    await getJson(api, `/render?${query}`);
    times.push(performance.now() - started);
  }
  return times.sort((a, b) => a - b)[2]!;
}

async function main(): Promise<void> {
  for (const [what, path] of [
    ['Etsy statsd', STATSD],
    ['carbon-cache', CARBON_CACHE],
  ] as const)
    if (!existsSync(path)) throw new Error(`${what} is missing (${path}): sh bench/metrics/setup.sh`);
  const dir = tempDir('opsbro-bench-metrics-');
  const sender = join(dir, 'udp-blast');
  execFileSync('gcc', ['-O2', '-o', sender, join(SOURCE_DIR, 'udp-blast.c')]);

  // 1. statsd, each system alone.
  const statsdResults: Record<string, { opsbro: number; statsd: number }> = {
    '10': { opsbro: 0, statsd: 0 },
    '1': { opsbro: 0, statsd: 0 },
  };
  for (const perPacket of PARTS.has('statsd') ? [10, 1] : []) {
    const agent = await startAgent(join(dir, `statsd-${perPacket}`));
    const opsbro = await losslessRate(
      'opsbro',
      sender,
      agent.statsd,
      perPacket,
      async () =>
        (await getJson<{ statsd: { packets: number } }>(agent.api, '/agent/metrics/stats')).statsd.packets,
      // Two flushes, as for statsd: reader processes hand their counts over at a flush.
      () => sleep((FLUSH_SECONDS * 2 + 0.5) * 1000),
    );
    await stop(agent.proc);
    const etsy = await startStatsd(join(dir, `etsy-${perPacket}`));
    const statsd = await losslessRate(
      'statsd',
      sender,
      etsy.port,
      perPacket,
      () => Promise.resolve(etsy.received()),
      () => sleep((FLUSH_SECONDS * 2 + 0.5) * 1000),
    );
    await stop(etsy.proc);
    statsdResults[`${perPacket}`] = { opsbro: opsbro.lossless, statsd: statsd.lossless };
  }

  // 2. graphite ingest, 3. bytes, 4. render.
  const text = graphiteLines(Math.floor(Date.now() / 1000));
  const lines = SERIES * POINTS_PER_SERIES;
  log(
    `graphite: ${lines} lines (${SERIES} series x 24 h of 10 s points), ${(text.length / 1e6).toFixed(1)} MB`,
  );
  const agent = await startAgent(join(dir, 'graphite'));
  // Both receivers get the same quiet start: what they do right after starting is not ingest.
  await sleep(SETTLE_MS);
  const storeBefore = dirBytes(agent.storeDir);
  const opsbroSeconds = await sendLines(agent.graphite, text);
  const stats = await getJson<{ graphite: { lines: number; bad_lines: number } }>(
    agent.api,
    '/agent/metrics/stats',
  );
  if (stats.graphite.lines !== lines)
    throw new Error(`opsbro counted ${stats.graphite.lines} of ${lines} lines`);
  log(`opsbro: ${lines} lines in ${opsbroSeconds.toFixed(2)} s`);
  const renderMs = await timeRender(agent.api, 'target=bench.s*&from=-24h&format=json&maxDataPoints=1000');
  const renderFullMs = await timeRender(agent.api, 'target=bench.s*&from=-24h&format=json');
  await stop(agent.proc); // a graceful stop writes everything
  const opsbroBytes = dirBytes(agent.storeDir) - storeBefore;

  const carbon = await startCarbon(dir);
  await sleep(SETTLE_MS);
  const carbonSeconds = await sendLines(carbon.port, text);
  log(`carbon-cache: ${lines} lines in ${carbonSeconds.toFixed(2)} s; waiting for its whisper files`);
  const deadline = Date.now() + 300_000;
  while (whisperFiles(carbon.whisperDir) < SERIES && Date.now() < deadline) await sleep(500);
  await sleep(3000);
  const whisperBytes = dirBytes(carbon.whisperDir);
  await stop(carbon.proc);

  const opsbroLinesPerSecond = lines / opsbroSeconds;
  const carbonLinesPerSecond = lines / carbonSeconds;
  const opsbroBytesPerPoint = opsbroBytes / lines;
  const whisperFileBytesPerPoint = whisperBytes / lines;
  const result = {
    bench: 'metrics',
    node: process.version,
    stepSeconds: STEP_SECONDS,
    series: SERIES,
    statsd: statsdResults,
    graphite: {
      opsbroLinesPerSecond,
      carbonLinesPerSecond,
      ratio: ratio(opsbroLinesPerSecond, carbonLinesPerSecond),
    },
    bytesPerPoint: {
      opsbro: opsbroBytesPerPoint,
      whisperNominal: WHISPER_NOMINAL_BYTES,
      whisperFiles: whisperFileBytesPerPoint,
      ratio: ratio(opsbroBytesPerPoint, WHISPER_NOMINAL_BYTES),
    },
    renderMs: { maxDataPoints1000: renderMs, full: renderFullMs },
    targets: {
      statsd3x: ['10', '1'].every(
        (key) => (ratio(statsdResults[key]!.opsbro, statsdResults[key]!.statsd) ?? 0) >= 3,
      ),
      graphite5x: (ratio(opsbroLinesPerSecond, carbonLinesPerSecond) ?? 0) >= 5,
      quarterOfWhisper: opsbroBytesPerPoint <= WHISPER_NOMINAL_BYTES / 4,
      renderUnder100ms: renderMs < 100,
    },
  };
  const row = (name: string, a: number, b: number, digits = 0): string =>
    `${name.padEnd(44)}${a.toFixed(digits).padStart(12)}${b.toFixed(digits).padStart(14)}${(ratio(a, b)?.toFixed(2) ?? '-').padStart(9)}x`;
  console.log(`${''.padEnd(44)}${'opsbro'.padStart(12)}${'peer'.padStart(14)}${'ratio'.padStart(10)}`);
  for (const key of ['10', '1'])
    console.log(
      row(
        `statsd lossless packets/s (${key}/packet)`,
        statsdResults[key]!.opsbro,
        statsdResults[key]!.statsd,
      ),
    );
  console.log(row('graphite lines/s (carbon-cache)', opsbroLinesPerSecond, carbonLinesPerSecond));
  console.log(row('bytes a point (whisper nominal)', opsbroBytesPerPoint, WHISPER_NOMINAL_BYTES, 2));
  console.log(
    row('bytes a point (whisper files, 24 h in 1 y)', opsbroBytesPerPoint, whisperFileBytesPerPoint, 2),
  );
  console.log(
    `/render ${SERIES} series over 24 h: ${renderMs.toFixed(1)} ms (maxDataPoints=1000), ${renderFullMs.toFixed(1)} ms (every point)`,
  );
  console.log(
    `targets: statsd 3x ${verdict(result.targets.statsd3x)}; graphite 5x ${verdict(result.targets.graphite5x)}; a quarter of whisper ${verdict(result.targets.quarterOfWhisper)}; render < 100 ms ${verdict(result.targets.renderUnder100ms)}`,
  );
  console.log(JSON.stringify(result));
}

runBench('bench:metrics', main, stopOnSignals('bench:metrics'));
