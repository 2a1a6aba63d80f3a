// Gossip benchmark: HashiCorp Serf and opsbro side by side on loopback, N agents each (one process per
// agent, each on its own address: serf on 127.0.1.1..N, opsbro on 127.0.2.1..N). For each N and system:
//   1. convergence: start all agents (paced batches), join agents 2..N to agent 1, then the time from the
//      last join's return until every agent lists all N alive;
//   2. idle (after a settle time): CPU % of one core (schedstat, all threads) and RSS per agent, and gossip
//      bytes/s per agent (nftables counters, see bytes.ts), over the idle window;
//   3. failure detection: SIGKILL one non-seed agent; the time until every other agent lists it failed/dead;
//   4. false failures: any live agent listed failed/dead/left by anyone, in any phase (must be 0).
// Systems run one after the other, never at the same time. A table per N (with opsbro/serf ratios) goes to
// stdout, then one JSON line; progress goes to stderr. Every process started is stopped by pid and every
// temp dir removed at the end of each run, on error and on Ctrl-C. Linux, as root (nft, /proc).
//
// Setup (once):  sh bench/gossip/setup.sh       (apt-get install serf nftables)
// Run:           npm run bench:gossip
// Quick run:     BENCH_N=10 BENCH_IDLE_SECONDS=5 BENCH_SYSTEMS=serf npm run bench:gossip
// Environment:   BENCH_N="10,50,100"          agent counts
//                BENCH_SYSTEMS="serf,opsbro"  opsbro is skipped (with the reason) when `opsbro gossip
//                                             --help` fails or lists no `join`
//                BENCH_IDLE_SECONDS=30        idle window; BENCH_SETTLE_SECONDS=5 before it. UDP bytes are
//                                             steady; TCP push-pull is periodic (serf: first at 30-60 s
//                                             after start, then every 30 s, 60 s at N>32, 90 s at N>64),
//                                             so a short early window catches a random share of it. For
//                                             the full period: BENCH_SETTLE_SECONDS=60 BENCH_IDLE_SECONDS=90.
//                                             An opsbro agent's heap is shrunk once by V8's memory reducer
//                                             70-110 s after its start (full GCs on the worker threads):
//                                             for its steady state, BENCH_SETTLE_SECONDS=180
//                BENCH_KILLS=3                agents killed one after another per N (median reported)
//                BENCH_POLL_MS=200            poll round period while timing convergence/failure
//                BENCH_TIMEOUT_SECONDS=120    per timed phase
//                BENCH_START_BATCH=10         agents started together before waiting for them to answer
//                BENCH_JOIN_CONCURRENCY=4     joins in flight
//                BENCH_OPSBRO_YAML="..."      extra YAML appended to every opsbro agent.yml
//                BENCH_OPSBRO_BIN=path        opsbro launcher (default: this repo's bin/opsbro.js)
//                BENCH_CHECKS=200             opsbro only: N checks per agent changing state at a steady
//                                             low rate (checks-load.ts: BENCH_CHECK_CHANGES_PER_MIN=0.1
//                                             per agent, BENCH_CHECK_INTERVAL_S=30); run once with and
//                                             once without, and compare the gossip bytes/s per agent
//                                             (issue 12: at most +20% at N=50 with 200 checks)
// `node dist/bench/gossip/index.js --json` prints only the JSON line. Exit code 1 when a run failed or any
// false failure was seen.
import { openByteCounter } from './bytes.js';
import { checksLoadFromEnv } from './checks-load.js';
import { convergence, failureDetection, idle, round, Watch, type Options } from './measure.js';
import { opsbro } from './opsbro.js';
import { onCleanup, removeDir, runBench, stopEverything, stopOnSignals, tempDir } from './procs.js';
import { ratios, table, type SystemResult } from './report.js';
import { serf } from './serf.js';
import type { GossipSystem } from './system.js';
import { positiveEnv } from '../lib/env.js';

const JSON_ONLY = process.argv.includes('--json');
/** Agents killed one after another per N; the table shows the median. */
const KILLS = Number(process.env.BENCH_KILLS ?? 3);
const SYSTEMS: Record<string, GossipSystem> = { serf, opsbro };

function list(name: string, fallback: string): string[] {
  return (process.env[name] || fallback)
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

const log = (msg: string): void => {
  if (!JSON_ONLY) process.stderr.write(`[bench:gossip] ${msg}\n`);
};

const interrupted = stopOnSignals('bench:gossip');

async function runOne(
  system: GossipSystem,
  n: number,
  opts: Options,
  counter: ReturnType<typeof openByteCounter>,
  batch: number,
  joinConcurrency: number,
): Promise<SystemResult> {
  const wall0 = performance.now();
  const dir = tempDir(`opsbro-bench-gossip-${system.name}-${n}-`);
  const watch = new Watch();
  const result: SystemResult = { system: system.name, n };
  let cluster: Awaited<ReturnType<GossipSystem['start']>> | undefined;
  const seconds = (from: number): number => round((performance.now() - from) / 1000, 1);
  try {
    const t = performance.now();
    log(`${system.name} N=${n}: starting agents on ${system.block}.1-${n}`);
    cluster = await system.start(n, dir, batch);
    result.startS = seconds(t);
    const joinStart = performance.now();
    const joins = await cluster.join(joinConcurrency);
    const lastJoin = performance.now();
    result.joinS = seconds(joinStart);
    result.slowestJoinS = round(Math.max(0, ...joins) / 1000, 2);
    log(
      `${system.name} N=${n}: started in ${result.startS} s, joined in ${result.joinS} s; timing convergence`,
    );
    result.convergence = await convergence(cluster, opts, watch);
    const conv = result.convergence.maxS;
    result.formS = conv === null ? null : round((lastJoin - joinStart) / 1000 + conv, 2);
    log(`${system.name} N=${n}: converged in ${result.convergence.maxS ?? 'timeout'} s; idle window`);
    result.idle = await idle(cluster, system, counter, opts, watch);
    // Several kills, one after another, and the median: one kill is one noisy sample.
    const failures = [];
    for (let kill = 0; kill < KILLS; kill++) {
      const victim = cluster.agents[Math.floor(n / 2) + kill]!; // never agent 1, the seed
      log(`${system.name} N=${n}: SIGKILL ${victim.name}; timing failure detection`);
      const failure = await failureDetection(cluster, victim, opts, watch);
      log(`${system.name} N=${n}: detected in ${failure.maxS ?? 'timeout'} s`);
      failures.push({ victim: victim.name, failure });
    }
    const byTime = [...failures].sort((a, b) => (a.failure.maxS ?? Infinity) - (b.failure.maxS ?? Infinity));
    // BENCH_KILLS=0 (a cost-only run, e.g. with and without BENCH_CHECKS): no failure to report.
    const median = byTime[Math.floor((byTime.length - 1) / 2)];
    if (median) {
      result.victim = median.victim;
      result.failure = median.failure;
    }
    result.failureSamplesS = failures.map((entry) => entry.failure.maxS);
    result.refutationsTotal = cluster.refutations?.() ?? null;
  } catch (err) {
    if (interrupted()) throw err;
    result.error = err instanceof Error ? err.message : String(err);
    log(`${system.name} N=${n} failed: ${result.error}`);
  } finally {
    cluster?.close();
    await stopEverything(); // also agents of a start that failed half way
    removeDir(dir);
  }
  result.falseFailures = watch.falseFailures.size;
  result.falseFailureSamples = [...watch.falseFailures.values()].slice(0, 5);
  result.suspicions = watch.suspicions.size;
  result.pollErrors = watch.pollErrors;
  result.wallS = seconds(wall0);
  return result;
}

async function main(): Promise<void> {
  const ns = list('BENCH_N', '10,50,100').map(Number);
  for (const n of ns)
    if (!Number.isInteger(n) || n < 3 || n > 250) throw new Error(`BENCH_N: each N must be 3..250, got ${n}`);
  const names = list('BENCH_SYSTEMS', 'serf,opsbro');
  for (const name of names) if (!SYSTEMS[name]) throw new Error(`BENCH_SYSTEMS: unknown system ${name}`);
  const opts: Options = {
    pollMs: positiveEnv('BENCH_POLL_MS', 200),
    pollConcurrency: 16,
    timeoutMs: positiveEnv('BENCH_TIMEOUT_SECONDS', 120) * 1000,
    settleMs: positiveEnv('BENCH_SETTLE_SECONDS', 5) * 1000,
    idleMs: positiveEnv('BENCH_IDLE_SECONDS', 30) * 1000,
    idlePollMs: 1000,
  };
  // Read here first, so that a bad BENCH_CHECKS* value fails the bench before any agent starts.
  const checks = checksLoadFromEnv();
  const batch = positiveEnv('BENCH_START_BATCH', 10);
  const joinConcurrency = positiveEnv('BENCH_JOIN_CONCURRENCY', 4);

  const systems: GossipSystem[] = [];
  const skipped = new Map<string, string>();
  const versions: Record<string, string> = {};
  for (const name of names) {
    const system = SYSTEMS[name]!;
    const reason = await system.unavailable();
    if (reason) {
      skipped.set(name, reason);
      log(`skipping ${name}: ${reason}`);
    } else {
      systems.push(system);
      versions[name] = await system.version();
    }
  }

  const counter = openByteCounter(
    systems.map((s) => ({
      system: s.name,
      block: `${s.block}.0/24`,
      udpPort: s.udpPort,
      tcpPort: s.tcpPort,
    })),
  );
  onCleanup(() => counter.close());
  log(`bytes counted with ${counter.method}: ${counter.note}`);

  const all: { n: number; results: SystemResult[]; ratio: Record<string, number | null> }[] = [];
  for (const n of ns) {
    const results: SystemResult[] = [];
    for (const name of names) {
      const system = systems.find((s) => s.name === name);
      if (!system) results.push({ system: name as SystemResult['system'], n, skipped: skipped.get(name)! });
      else results.push(await runOne(system, n, opts, counter, batch, joinConcurrency));
    }
    const byName = (s: string): SystemResult | undefined => results.find((r) => r.system === s && !r.skipped);
    all.push({ n, results, ratio: ratios(byName('opsbro'), byName('serf')) });
    if (!JSON_ONLY) console.log(table(n, results, opts.idleMs / 1000, opts.pollMs) + '\n');
  }
  console.log(
    JSON.stringify({
      bench: 'gossip',
      node: process.version,
      versions,
      bytes: { method: counter.method, note: counter.note },
      options: { ...opts, startBatch: batch, joinConcurrency, checks: checks ?? null },
      runs: all,
    }),
  );
  if (all.some((r) => r.results.some((x) => x.error || (x.falseFailures ?? 0) > 0))) process.exitCode = 1;
}

runBench('bench:gossip', main, interrupted);
