// Checks benchmark (issue 12): what opsbro's checks engine costs and how well it keeps time, beside
// Nagios Core 4 running the same plugin checks, all in one window. Four peers, each a real process
// tree on this machine, measured side by side:
//   opsbro            one agent with both loads, as the issue has it: BENCH_EVALUATED evaluated checks
//                     every 10 s (`{collector.loadaverage.load1} > 1000`; every other one reads its
//                     thresholds from {configuration.thresholds...}, with a warning_if too) and
//                     BENCH_SCRIPTS script checks `$nagiosplugins$/check_dummy 0 ok` every 60 s;
//   opsbro-evaluated  the evaluated checks alone (the target: under 25% of one core);
//   opsbro-scripts    the script checks alone (the target: no more CPU than Nagios for them);
//   nagios            Debian's nagios4 with BENCH_SCRIPTS services running check_dummy 0 ok every
//                     minute (nagios.ts).
// Every peer runs at most BENCH_CONCURRENCY checks at once (opsbro's checks.max_concurrent, Nagios'
// max_concurrent_checks). opsbro agents run no pack, only the loadaverage collector the evaluated
// checks read (peers.ts). After BENCH_SETTLE_SECONDS (the first interval's spread, and V8's startup
// tail) the bench measures over BENCH_SECONDS:
//   - CPU % of one core: utime+stime+cutime+cstime summed over each process tree (the agent and its
//     plugins; Nagios, its core workers and their plugins), sampled every 5 s; RSS mean and peak;
//   - scheduling lag, how late a run starts after it fell due: opsbro's from GET /monitoring/scheduler
//     (p50/p99 of its latest 1024 runs), asked often enough that the samples cover the window (every
//     second at 1000 runs/s, every 10 s at 17 runs/s): the median p50 and the worst p99 are
//     reported; Nagios' from status.dat (check_latency of every run in the window, read every 5 s
//     as Nagios rewrites it every 10 s): p50 and p99 over those runs;
//   - check runs started in the window against what the load should start (opsbro: the scheduler's
//     `started`; Nagios: each service's last_check as it changes), and, read after the window, how
//     many checks ran within their interval (last run no more than 1.1 intervals old).
// Everything listens on 127.0.0.1; every process started is stopped by pid (Nagios' workers and any
// plugin seen in a tree too, by pid and start time) and every temp dir removed, at the end, on error
// and on Ctrl-C.
//
// Setup (once, root):  sh bench/checks/setup.sh    (apt-get install nagios4-core monitoring-plugins-basic)
// Run:                 npm run bench:checks         (about 7 minutes; mind other loads on the machine)
// Environment:         BENCH_EVALUATED=10000        evaluated checks (every 10 s)
//                      BENCH_SCRIPTS=1000           script checks / Nagios services (every 60 s)
//                      BENCH_CONCURRENCY=32         runs at once, at most, in each peer
//                      BENCH_SECONDS=300            measurement window
//                      BENCH_SETTLE_SECONDS=60      from the last peer's start to the window
//                      BENCH_PEERS="opsbro,opsbro-evaluated,opsbro-scripts,nagios"
//                      BENCH_OPSBRO_BIN, BENCH_NAGIOS_BIN: other binaries
// `node dist/bench/checks/index.js --json` prints only the JSON line. Linux only (/proc).
import { setTimeout as sleep } from 'node:timers/promises';
import type { CheckSchedulerAnswer, CheckStatus } from '../../agent/shared/api-types.js';
import { sampleTree, SeenProcesses, type TreeSample } from '../collectors/proc-tree.js';
import { versionOf } from '../collectors/peers.js';
import { round } from '../gossip/measure.js';
import { ratio, verdict } from '../gossip/report.js';
import {
  runBench,
  describeExit,
  onCleanup,
  running,
  stop,
  stopOnSignals,
  tempDir,
  type Proc,
} from '../gossip/procs.js';
import {
  FRESH_INTERVALS,
  nagiosFreshness,
  nagiosRuns,
  opsbroFreshness,
  opsbroLag,
  treeFigures,
  type Freshness,
} from './measure.js';
import {
  nagiosMissing,
  nagiosVersion,
  readStatus,
  startNagios,
  STATUS_UPDATE_S,
  type NagiosPeer,
  type NagiosStatus,
} from './nagios.js';
import {
  checkStatuses,
  EVALUATED_INTERVAL_S,
  loadOf,
  runsPerSecond,
  schedulerStats,
  SCRIPT_INTERVAL_S,
  startOpsbroPeer,
  type ChecksLoad,
  type OpsbroPeer,
} from './peers.js';
import { peersTable, type PeerName, type PeerResult } from './report.js';
import { positiveEnv } from '../lib/env.js';

const JSON_ONLY = process.argv.includes('--json');
const PEER_NAMES: PeerName[] = ['opsbro', 'opsbro-evaluated', 'opsbro-scripts', 'nagios'];
/** Process trees are sampled this often (s); the window's first and last samples bound the CPU. */
const TREE_EVERY_S = 5;
/** How long after the window a status.dat may take to show its last runs. */
const LAST_STATUS_TIMEOUT_MS = (STATUS_UPDATE_S + 10) * 1000;

const log = (msg: string): void => {
  if (!JSON_ONLY) process.stderr.write(`[bench:checks] ${msg}\n`);
};
const seen = new SeenProcesses();
const interrupted = stopOnSignals('bench:checks', () => seen.killLeftovers());

/** Scheduler samples often enough that each one's 1024 latest runs meet the next's (1 to 10 s). */
function lagEveryS(load: ChecksLoad): number {
  return Math.min(10, Math.max(1, Math.floor(512 / runsPerSecond(load))));
}

/** A peer under measurement: its tree samples, and what its kind adds. */
interface Measured {
  name: PeerName;
  proc: Proc;
  samples: TreeSample[];
  opsbro?: {
    peer: OpsbroPeer;
    atStart?: CheckSchedulerAnswer;
    atEnd?: CheckSchedulerAnswer;
    lags: CheckSchedulerAnswer[];
  };
  nagios?: { peer: NagiosPeer; statuses: NagiosStatus[] };
}

function sampleInto(m: Measured): void {
  const sample = running(m.proc) ? seen.remember(sampleTree(m.proc.pid)) : undefined;
  if (!sample) throw new Error(`${m.name}: ${describeExit(m.proc)}`);
  m.samples.push(sample);
}

/** Keeps a status.dat Nagios wrote since the last one kept. */
function readNagios(m: Measured): NagiosStatus | undefined {
  const status = m.nagios && readStatus(m.nagios.peer.statusFile);
  if (status && status.createdS !== m.nagios!.statuses.at(-1)?.createdS) m.nagios!.statuses.push(status);
  return status;
}

async function startPeer(
  name: PeerName,
  dir: string,
  load: ChecksLoad,
  concurrency: number,
): Promise<Measured | string> {
  if (name === 'nagios') {
    const missing = nagiosMissing();
    if (missing) return missing;
    const peer = await startNagios(load.scripts, concurrency);
    return { name, proc: peer.proc, samples: [], nagios: { peer, statuses: [] } };
  }
  const peer = await startOpsbroPeer(dir, name, loadOf(name, load), concurrency);
  return { name, proc: peer.proc, samples: [], opsbro: { peer, lags: [] } };
}

async function main(): Promise<void> {
  if (process.platform !== 'linux') throw new Error('bench:checks reads /proc: Linux only');
  const load: ChecksLoad = {
    evaluated: positiveEnv('BENCH_EVALUATED', 10_000, true),
    scripts: positiveEnv('BENCH_SCRIPTS', 1000, true),
  };
  const concurrency = positiveEnv('BENCH_CONCURRENCY', 32, true);
  const seconds = positiveEnv('BENCH_SECONDS', 300, true);
  const settleS = positiveEnv('BENCH_SETTLE_SECONDS', 60, true);
  const names = (process.env.BENCH_PEERS || PEER_NAMES.join(','))
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean) as PeerName[];
  for (const name of names)
    if (!PEER_NAMES.includes(name))
      throw new Error(`BENCH_PEERS: unknown peer ${name} (${PEER_NAMES.join(', ')})`);

  const dir = tempDir('opsbro-bench-checks-');
  onCleanup(() => seen.killLeftovers());
  const results = new Map<PeerName, PeerResult>();
  const measured: Measured[] = [];
  const opsbroVersion = await versionOf('opsbro');
  for (const name of names) {
    const peerLoad = name === 'nagios' ? { evaluated: 0, scripts: load.scripts } : loadOf(name, load);
    try {
      const version = name === 'nagios' ? await nagiosVersion().catch(() => 'nagios') : opsbroVersion;
      log(
        `starting ${name} (${version}): ${peerLoad.evaluated} evaluated + ${peerLoad.scripts} script checks`,
      );
      const started = await startPeer(name, dir, load, concurrency);
      if (typeof started === 'string') {
        results.set(name, { name, load: peerLoad, skipped: started });
        log(`skipping ${name}: ${started}`);
        continue;
      }
      measured.push(started);
      results.set(name, { name, load: peerLoad, version });
    } catch (err) {
      if (interrupted()) throw err;
      const reason = `failed to start: ${err instanceof Error ? err.message : String(err)}`;
      results.set(name, { name, load: peerLoad, skipped: reason });
      log(`${name} ${reason}`);
    }
  }
  if (measured.length === 0) throw new Error('no peer started');

  log(`settling ${settleS} s`);
  await sleep(settleS * 1000);

  log(`measuring ${seconds} s`);
  const t0Ms = Date.now();
  const t0 = performance.now();
  for (const m of measured) {
    sampleInto(m);
    if (m.opsbro) m.opsbro.atStart = await schedulerStats(m.opsbro.peer);
    readNagios(m);
  }
  for (let tick = 1; tick <= seconds; tick++) {
    await sleep(Math.max(0, t0 + tick * 1000 - performance.now()));
    for (const m of measured) {
      if (tick % TREE_EVERY_S === 0 || tick === seconds) sampleInto(m);
      if (m.opsbro && (tick % lagEveryS(m.opsbro.peer.load) === 0 || tick === seconds)) {
        const stats = await schedulerStats(m.opsbro.peer);
        m.opsbro.lags.push(stats);
        if (tick === seconds) m.opsbro.atEnd = stats;
      }
      if (m.nagios && tick % Math.max(1, STATUS_UPDATE_S / 2) === 0) readNagios(m);
    }
    if (tick % 60 === 0) log(`${tick} s of ${seconds}`);
  }
  const windowS = (performance.now() - t0) / 1000;
  const t1Ms = t0Ms + windowS * 1000;

  // After the window: each check's last run, and the runs Nagios had not written out yet.
  for (const m of measured) {
    const result = results.get(m.name)!;
    Object.assign(result, treeFigures(m.samples, windowS));
    if (m.opsbro) {
      const { peer, atStart, atEnd, lags } = m.opsbro;
      const askedAt = Date.now();
      const statuses: CheckStatus[] = await checkStatuses(peer);
      Object.assign(result, opsbroLag(lags));
      result.runs = atEnd!.started - atStart!.started;
      result.runsSkipped = atEnd!.skipped - atStart!.skipped;
      result.runsExpected = Math.round(runsPerSecond(peer.load) * windowS);
      if (peer.load.scripts)
        result.scripts = opsbroFreshness(statuses, 'script-', SCRIPT_INTERVAL_S, askedAt);
      if (peer.load.evaluated)
        result.evaluated = opsbroFreshness(statuses, 'eval-', EVALUATED_INTERVAL_S, askedAt);
    }
    if (m.nagios) {
      const deadline = Date.now() + LAST_STATUS_TIMEOUT_MS;
      let last = readNagios(m);
      while ((!last || last.createdS < t1Ms / 1000 + 1) && Date.now() < deadline) {
        await sleep(500);
        last = readNagios(m);
      }
      const { runs, lag } = nagiosRuns(m.nagios.statuses, t0Ms / 1000, t1Ms / 1000);
      Object.assign(result, lag);
      result.runs = runs;
      result.runsExpected = Math.round((load.scripts * windowS) / SCRIPT_INTERVAL_S);
      if (last) result.scripts = nagiosFreshness(last, SCRIPT_INTERVAL_S);
    }
    if (result.runs && result.cpuSeconds !== undefined)
      result.cpuUsPerRun = round((result.cpuSeconds * 1e6) / result.runs, 0);
  }

  const ordered = names.map((name) => results.get(name)!);
  const get = (name: PeerName): PeerResult | undefined => {
    const r = results.get(name);
    return r && !r.skipped ? r : undefined;
  };
  const scripts = get('opsbro-scripts');
  const nagios = get('nagios');
  const evaluated = get('opsbro-evaluated');
  const opsbros = ordered.filter((r) => !r.skipped && r.name !== 'nagios');
  const all = (rs: PeerResult[], ok: (r: PeerResult) => boolean): boolean | null =>
    rs.length === 0 ? null : rs.every(ok);
  // Before a whole script interval (and its tolerance) has passed, not every check could have run.
  const longEnough = settleS + windowS >= SCRIPT_INTERVAL_S * FRESH_INTERVALS;
  const withinInterval = (f: Freshness | undefined, expected: number): boolean | null =>
    !longEnough ? null : f !== undefined && f.of === expected && f.fresh === f.of;
  const targets = {
    evaluatedUnder25Percent: evaluated?.cpuPercent === undefined ? null : evaluated.cpuPercent < 25,
    lagP99Under500Ms: all(
      opsbros,
      (r) => r.lagP99Ms !== null && r.lagP99Ms !== undefined && r.lagP99Ms < 500,
    ),
    scriptsWithinInterval: longEnough
      ? all(
          opsbros.filter((r) => r.load.scripts > 0),
          (r) => withinInterval(r.scripts, r.load.scripts) === true,
        )
      : null,
    scriptsCpuAtMostNagios:
      scripts?.cpuSeconds === undefined || nagios?.cpuSeconds === undefined
        ? null
        : scripts.cpuSeconds <= nagios.cpuSeconds,
    nagiosWithinInterval: nagios ? withinInterval(nagios.scripts, load.scripts) : null,
  };
  const report = {
    bench: 'checks',
    node: process.version,
    load,
    concurrency,
    seconds,
    windowS: round(windowS, 1),
    settleS,
    peers: ordered,
    ratio: {
      cpuScriptsNagios: ratio(scripts?.cpuSeconds, nagios?.cpuSeconds),
      rssScriptsNagios: ratio(scripts?.rssMiBAvg, nagios?.rssMiBAvg),
      lagP99ScriptsNagios: ratio(scripts?.lagP99Ms, nagios?.lagP99Ms),
    },
    targets,
  };
  if (!JSON_ONLY) {
    console.log(peersTable(ordered, windowS, concurrency));
    console.log(
      [
        `targets: opsbro-evaluated < 25% of one core: ${verdict(targets.evaluatedUnder25Percent)}; ` +
          `lag p99 < 500 ms (every opsbro peer): ${verdict(targets.lagP99Under500Ms)}; ` +
          `script checks within their interval: ${verdict(targets.scriptsWithinInterval)}; ` +
          `opsbro-scripts CPU <= nagios: ${verdict(targets.scriptsCpuAtMostNagios)}`,
        `(nagios' services within their interval: ${verdict(targets.nagiosWithinInterval)})` +
          (longEnough
            ? ''
            : `; settle + window under ${SCRIPT_INTERVAL_S * FRESH_INTERVALS} s: too short to say whether every script check ran`),
        '',
      ].join('\n'),
    );
  }
  console.log(JSON.stringify(report));

  log('stopping');
  await Promise.all(measured.map((m) => stop(m.proc, 15_000)));
}

runBench('bench:checks', main, interrupted);
