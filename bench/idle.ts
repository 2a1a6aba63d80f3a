// Idle cost of a bare agent, side by side with a bare Node process (the floor any Node daemon pays).
//
// Starts `opsbro agent start` as a child (temp config dir with only `api: {bind, port}` on a free port,
// temp data dir) and, concurrently, `node -e "setInterval(() => {}, 1 << 30)"`. Once the agent's
// GET /agent/state says ok (the CPU it spent to get there is its start-up cost), it lets both
// settle (BENCH_SETTLE_SECONDS, 30: V8 shrinks an idle process's heap some 10-60 s after its
// start, and a window before that measures the start-up's young generation), then samples CPU time (the sum of /proc/<pid>/task/*/schedstat, in ns:
// clock ticks are 10 ms, too coarse for an idle process) and /proc/<pid>/status (VmRSS) of both every second over the same window, and reports CPU % of one core,
// CPU ms total and RSS start/avg/max/end (MiB), with agent/bare-node ratios. Linux only (/proc).
//
//   npm run bench:idle                       60 s window, table then JSON on the last line
//   BENCH_SECONDS=10 npm run bench:idle      shorter window
//   BENCH_OPSBRO_BIN=path                    another launcher (a bundle, an older build)
//   node dist/bench/idle.js --json           only the JSON line (after `npm run build`)
//   BENCH_SCRAPE=1                           GET /metrics once before the settle, as a Prometheus
//                                            server would: the window then includes what the process
//                                            metrics cost once loaded (agent/core/prometheus.ts)
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { get } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { AGENT_ENV, freePort } from './gossip/procs.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 60);
const SETTLE_MS = Number(process.env.BENCH_SETTLE_SECONDS ?? 30) * 1000;
const READY_TIMEOUT_MS = 20_000;
const JSON_ONLY = process.argv.includes('--json');
const SCRAPE = process.env.BENCH_SCRAPE === '1';
const OPSBRO = process.env.BENCH_OPSBRO_BIN ?? fileURLToPath(new URL('../../bin/opsbro.js', import.meta.url));
let interrupted = false; // Ctrl-C/SIGTERM: clean up and exit quietly

interface Peer {
  name: string;
  child: ChildProcess;
  output: string; // tail of stdout+stderr, shown if it dies
  cpuNs: number[];
  rssKiB: number[];
}

interface PeerResult {
  pid: number;
  cpuPercent: number;
  cpuMs: number;
  rssMiB: { start: number; avg: number; max: number; end: number };
}

function startPeer(name: string, args: string[]): Peer {
  // The bare node runs with the agent's environment too: the same floor.
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], env: AGENT_ENV });
  const peer: Peer = { name, child, output: '', cpuNs: [], rssKiB: [] };
  const keep = (chunk: Buffer): void => {
    peer.output = (peer.output + chunk.toString()).slice(-4000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  child.on('error', (err) => keep(Buffer.from(String(err))));
  return peer;
}

function assertAlive(peer: Peer): void {
  if (peer.child.pid === undefined || peer.child.exitCode !== null || peer.child.signalCode !== null) {
    const how = peer.child.signalCode ?? `code ${String(peer.child.exitCode)}`;
    throw new Error(`${peer.name} is not running (${how}); its output:\n${peer.output}`);
  }
}

/** CPU time of every thread (ns, from schedstat) and VmRSS (KiB) of a live process. */
function readProc(pid: number): { cpuNs: number; rssKiB: number } {
  let cpuNs = 0;
  for (const task of readdirSync(`/proc/${pid}/task`)) {
    try {
      cpuNs += Number(readFileSync(`/proc/${pid}/task/${task}/schedstat`, 'utf8').split(' ')[0]);
    } catch {
      // The thread ended between the listing and the read.
    }
  }
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const rssKiB = Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1] ?? NaN);
  return { cpuNs, rssKiB };
}

/**
 * CPU time (user + system, ms) of a whole process from /proc/<pid>/stat: unlike the threads'
 * schedstat it keeps the time of threads that already ended. Clock ticks (10 ms): fine for seconds.
 */
function processCpuMs(pid: number): number {
  // The command name (field 2) may hold spaces: count fields from the closing parenthesis.
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
}

/** The agent's overall state from GET /agent/state (undefined while it does not answer). */
function stateOf(url: string): Promise<string | undefined> {
  return new Promise((resolve) => {
    const req = get(url, { agent: false, timeout: 1000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => {
        try {
          resolve(res.statusCode === 200 ? (JSON.parse(body) as { state?: string }).state : undefined);
        } catch {
          resolve(undefined);
        }
      });
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(undefined));
  });
}

/**
 * Waits for `state: ok` (or `degraded`: a collector of the defaults failing on this machine) and
 * returns the CPU the agent spent from its start to then, in ms. Polled every 50 ms.
 */
async function waitReady(
  peer: Peer,
  url: string,
): Promise<{ startupCpuMs: number; state: string; rssMiB: number }> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  for (;;) {
    const state = await stateOf(url);
    if (state === 'ok' || state === 'degraded') {
      const { rssKiB } = readProc(peer.child.pid!);
      return { startupCpuMs: processCpuMs(peer.child.pid!), state, rssMiB: Math.round(rssKiB / 102.4) / 10 };
    }
    assertAlive(peer);
    if (Date.now() > deadline)
      throw new Error(
        `${url} did not answer state ok in ${READY_TIMEOUT_MS} ms (last: ${state}):\n${peer.output}`,
      );
    await sleep(50);
  }
}

async function stopPeer(peer: Peer): Promise<void> {
  const { child } = peer;
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  if ((await Promise.race([exited, sleep(5000, 'timeout')])) === 'timeout') {
    child.kill('SIGKILL');
    await exited;
  }
}

function result(peer: Peer, elapsedMs: number): PeerResult {
  // Threads that ended during the window take their time with them; at idle there are none.
  const cpuMs = (peer.cpuNs.at(-1)! - peer.cpuNs[0]!) / 1e6;
  const mib = peer.rssKiB.map((kib) => kib / 1024);
  const round = (n: number, digits: number): number => Number(n.toFixed(digits));
  return {
    pid: peer.child.pid!,
    cpuPercent: round((cpuMs / elapsedMs) * 100, 3),
    cpuMs: round(cpuMs, 1),
    rssMiB: {
      start: round(mib[0]!, 1),
      avg: round(mib.reduce((a, b) => a + b, 0) / mib.length, 1),
      max: round(Math.max(...mib), 1),
      end: round(mib.at(-1)!, 1),
    },
  };
}

function ratio(a: number, b: number): number | null {
  return b > 0 ? Number((a / b).toFixed(2)) : null;
}

function table(agent: PeerResult, bare: PeerResult, header: string): string {
  const rows: [string, number, number, number][] = [
    ['CPU % of one core', agent.cpuPercent, bare.cpuPercent, 3],
    ['CPU ms total', agent.cpuMs, bare.cpuMs, 1],
    ['RSS start MiB', agent.rssMiB.start, bare.rssMiB.start, 1],
    ['RSS avg MiB', agent.rssMiB.avg, bare.rssMiB.avg, 1],
    ['RSS max MiB', agent.rssMiB.max, bare.rssMiB.max, 1],
    ['RSS end MiB', agent.rssMiB.end, bare.rssMiB.end, 1],
  ];
  const line = (cells: string[]): string =>
    cells[0]!.padEnd(20) +
    cells
      .slice(1)
      .map((c) => c.padStart(12))
      .join('');
  const out = [header, line(['', 'agent', 'bare-node', 'agent/bare'])];
  for (const [label, a, b, digits] of rows) {
    const r = ratio(a, b);
    out.push(line([label, a.toFixed(digits), b.toFixed(digits), r === null ? 'n/a' : `${r.toFixed(2)}x`]));
  }
  return out.join('\n');
}

async function main(): Promise<void> {
  if (!(SECONDS > 0))
    throw new Error(`BENCH_SECONDS must be a positive number, got ${process.env.BENCH_SECONDS}`);
  const dir = mkdtempSync(join(tmpdir(), 'opsbro-bench-idle-'));
  const peers: Peer[] = [];
  let cleaning: Promise<void> | undefined;
  const cleanup = (): Promise<void> =>
    (cleaning ??= Promise.all(peers.map(stopPeer)).then(() => rmSync(dir, { recursive: true, force: true })));
  const onSignal = (signal: NodeJS.Signals): void => {
    interrupted = true;
    void cleanup().finally(() => process.exit(signal === 'SIGINT' ? 130 : 143));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  try {
    const port = await freePort();
    const configDir = join(dir, 'config');
    const dataDir = join(dir, 'data');
    mkdirSync(configDir);
    mkdirSync(dataDir);
    writeFileSync(
      join(configDir, 'agent.yml'),
      `api: {bind: 127.0.0.1, port: ${port}}\ndns: {port: 0}\nstatsd: {port: 0}\ngraphite: {port: 0}\n`,
    );

    const args = ['agent', 'start', '--config-dir', configDir, '--data-dir', dataDir];
    const agent = startPeer('agent', [OPSBRO, ...args]);
    const bare = startPeer('bare-node', ['-e', 'setInterval(() => {}, 1 << 30)']);
    peers.push(agent, bare);
    const ready = await waitReady(agent, `http://127.0.0.1:${port}/agent/state`);
    if (SCRAPE) {
      const scrape = await fetch(`http://127.0.0.1:${port}/metrics`);
      if (!scrape.ok) throw new Error(`GET /metrics: ${scrape.status} ${await scrape.text()}`);
      await scrape.text();
    }
    await sleep(SETTLE_MS);

    const t0 = performance.now();
    for (let i = 0; i <= SECONDS; i++) {
      await sleep(Math.max(0, t0 + i * 1000 - performance.now()));
      for (const peer of peers) {
        assertAlive(peer);
        const { cpuNs, rssKiB } = readProc(peer.child.pid!);
        peer.cpuNs.push(cpuNs);
        peer.rssKiB.push(rssKiB);
      }
    }
    const elapsedMs = performance.now() - t0;

    const a = result(agent, elapsedMs);
    const b = result(bare, elapsedMs);
    const report = {
      bench: 'idle',
      seconds: SECONDS,
      elapsedMs: Math.round(elapsedMs),
      settleMs: SETTLE_MS,
      scrapedMetrics: SCRAPE,
      samples: agent.cpuNs.length,
      node: process.version,
      agent: {
        ...a,
        startupCpuMs: Math.round(ready.startupCpuMs),
        readyState: ready.state,
        rssAtReadyMiB: ready.rssMiB,
      },
      bareNode: b,
      ratio: {
        cpu: ratio(a.cpuMs, b.cpuMs),
        rssAvg: ratio(a.rssMiB.avg, b.rssMiB.avg),
        rssMax: ratio(a.rssMiB.max, b.rssMiB.max),
      },
    };
    if (!JSON_ONLY) {
      const header = `idle cost over ${SECONDS} s (after ${SETTLE_MS / 1000} s settle${SCRAPE ? ', /metrics scraped once' : ''}; 1 s samples; node ${process.version})`;
      console.log(table(a, b, header));
      console.log(
        `agent start-up: ${Math.round(ready.startupCpuMs)} ms of CPU from its start to state ${ready.state}, ` +
          `RSS then ${ready.rssMiB} MiB\n`,
      );
    }
    console.log(JSON.stringify(report));
  } finally {
    await cleanup();
  }
}

main().catch((err: unknown) => {
  if (interrupted) return;
  console.error(`bench:idle failed: ${err instanceof Error ? err.message : String(err)}`);
  process.exitCode = 1;
});
