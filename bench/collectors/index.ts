// Collectors benchmark: what opsbro's Linux OS collectors cost, alone and inside the running agent, side
// by side with prometheus-node-exporter and netdata on the same machine, in one run:
//   1. in process: every OS collector once (a full OS collection), median of BENCH_RUNS runs after a
//      warm-up run: CPU (user+sys) and wall time per collector and in total (in-process.ts);
//   2. the real agent (`opsbro agent start`, the linux and system packs: OS collectors every 10 s,
//      openports, processes and system every 60 s; the application packs disabled, see below) over BENCH_SECONDS:
//      CPU % of one core and RSS, from /proc/<pid>/stat of its process tree. The bench first checks
//      GET /agent/collectors lists the OS collectors running (state OK) and says so if not, and counts
//      their runs within the window. Beside it, the same agent with no pack at all (opsbro-bare):
//      opsbro − bare is what the packs (the collectors, and the linux pack's detectors) cost inside
//      the agent;
//   3. in the same window, prometheus-node-exporter (scraped by the bench every 10 s, as Prometheus would)
//      and netdata (stock plugins, 1 s), each measured the same way over its whole process tree;
//      ratios opsbro/node_exporter and opsbro/netdata. Targets: opsbro under 1% of one core, and no more
//      CPU than node_exporter.
// Everything listens on 127.0.0.1 free ports; every process started is stopped by pid (netdata's plugins
// too, by pid and start time) and every temp dir removed at the end, on error and on Ctrl-C.
//
// Setup (once, root):  sh bench/collectors/setup.sh     (apt-get install prometheus-node-exporter netdata)
// Run:                 npm run bench:collectors          (5 minutes)
// Environment:         BENCH_SECONDS=300       measurement window
//                      BENCH_SETTLE_SECONDS=60 after all answer, before the window: a Node process
//                                              spends its first ~25 s on V8's memory reducer (full GCs
//                                              shrinking the startup heap) and background JIT, about
//                                              0.2 s of CPU once; the window measures the steady state,
//                                              and each peer's CPU before it is reported apart
//                      BENCH_RUNS=20           in-process runs (part 1)
//                      BENCH_PEERS="opsbro,opsbro-bare,node_exporter,netdata"
//                      BENCH_OPSBRO_APP_PACKS=1  keep the application packs (redis, mysql, nginx, ...):
//                                              by default the agent runs only the linux and system packs
//                      BENCH_NODE_EXPORTER_BIN, BENCH_NETDATA_BIN, BENCH_OPSBRO_BIN: other binaries
// `node dist/bench/collectors/index.js --json` prints only the JSON line. Linux only (/proc).
import { setTimeout as sleep } from 'node:timers/promises';
import { OS_COLLECTOR_TYPES } from '../../agent/collectors/os/index.js';
import { round } from '../gossip/measure.js';
import { ratio, verdict } from '../gossip/report.js';
import { onCleanup, runBench, running, stop, stopOnSignals, tempDir, describeExit } from '../gossip/procs.js';
import { httpGet } from './http.js';
import { measureInProcess } from './in-process.js';
import {
  listCollectors,
  missingBinary,
  NETDATA_BIN,
  NODE_EXPORTER_BIN,
  PEER_NAMES,
  shippedPacks,
  startNetdata,
  startNodeExporter,
  startOpsbro,
  versionOf,
  type CollectorStatus,
  type Peer,
  type PeerName,
} from './peers.js';
import { sampleTree, SeenProcesses, type TreeSample } from './proc-tree.js';
import { inProcessTable, peersTable, type PeerResult } from './report.js';
import { positiveEnv } from '../lib/env.js';

const JSON_ONLY = process.argv.includes('--json');
const INTERVAL_S = 10; // the linux pack's collector interval, and the bench's node_exporter scrape period
const FIRST_PASS_TIMEOUT_MS = 30_000;
const OS_TYPES = new Set(OS_COLLECTOR_TYPES.map((t) => t.type));

const log = (msg: string): void => {
  if (!JSON_ONLY) process.stderr.write(`[bench:collectors] ${msg}\n`);
};
const interrupted = stopOnSignals('bench:collectors', () => seen.killLeftovers());

const seen = new SeenProcesses();

interface CollectorsCheck {
  running: boolean;
  /** One line for the report. */
  summary: string;
  statuses: CollectorStatus[];
}

/** Waits for the agent's first pass, then says whether its OS collectors run. */
async function checkCollectors(agent: Peer): Promise<CollectorsCheck> {
  const deadline = Date.now() + FIRST_PASS_TIMEOUT_MS;
  for (;;) {
    const list = await listCollectors(agent);
    if (typeof list === 'string')
      return { running: false, summary: `the agent runs no collectors (${list})`, statuses: [] };
    const pending = list.filter((s) => s.state === 'PENDING');
    if (pending.length === 0 || Date.now() > deadline) {
      const os = list.filter((s) => OS_TYPES.has(s.type));
      const ok = os.filter((s) => s.state === 'OK');
      const byState = new Map<string, number>();
      for (const s of list) byState.set(s.state, (byState.get(s.state) ?? 0) + 1);
      const states = [...byState].map(([state, n]) => `${n} ${state}`).join(', ');
      const missing = [...OS_TYPES].filter((t) => !ok.some((s) => s.type === t));
      const problems = os
        .filter((s) => s.state !== 'OK')
        .map((s) => `${s.name} ${s.state}${s.message ? `: ${s.message}` : ''}`);
      return {
        running: ok.length > 0,
        summary:
          list.length === 0
            ? 'the agent lists no collectors (the collectors subsystem or the linux pack is not wired in yet)'
            : `${list.length} collectors (${states}); OS collectors OK: ${ok.length}/${OS_TYPES.size}` +
              (missing.length ? `; not OK: ${missing.join(', ')}` : '') +
              (problems.length ? ` [${problems.join('; ')}]` : ''),
        statuses: list,
      };
    }
    await sleep(500);
  }
}

/** Runs so far per collector name; undefined when the agent does not list them. */
async function runsPerCollector(agent: Peer): Promise<Map<string, number> | undefined> {
  const list = await listCollectors(agent);
  return typeof list === 'string' ? undefined : new Map(list.map((s) => [s.name, s.runs]));
}

interface Measured {
  peer: Peer;
  samples: TreeSample[];
}

async function main(): Promise<void> {
  if (process.platform !== 'linux') throw new Error('bench:collectors reads /proc: Linux only');
  const seconds = positiveEnv('BENCH_SECONDS', 300);
  const settleS = positiveEnv('BENCH_SETTLE_SECONDS', 60);
  const runs = Math.round(positiveEnv('BENCH_RUNS', 20));
  const names = (process.env.BENCH_PEERS || PEER_NAMES.join(','))
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean) as PeerName[];
  for (const name of names)
    if (!PEER_NAMES.includes(name))
      throw new Error(`BENCH_PEERS: unknown peer ${name} (${PEER_NAMES.join(', ')})`);

  // 1. In process, before anything else runs.
  log(`part 1: ${runs} full OS collections in process`);
  const inProcess = await measureInProcess(runs);
  if (!JSON_ONLY) console.log(inProcessTable(inProcess, INTERVAL_S) + '\n');

  // 2 + 3. The three side by side.
  const dir = tempDir('opsbro-bench-collectors-');
  const disabledPacks = process.env.BENCH_OPSBRO_APP_PACKS === '1' ? [] : shippedPacks(true);
  if (disabledPacks.length) log(`opsbro: application packs disabled: ${disabledPacks.join(', ')}`);
  onCleanup(() => seen.killLeftovers());
  const results = new Map<PeerName, PeerResult>();
  const peers: Peer[] = [];
  for (const name of names) {
    const binary = name === 'node_exporter' ? NODE_EXPORTER_BIN : name === 'netdata' ? NETDATA_BIN : null;
    const missing = binary && missingBinary(binary);
    if (missing) {
      results.set(name, { name, skipped: missing });
      log(`skipping ${name}: ${missing}`);
      continue;
    }
    try {
      const version = await versionOf(name);
      log(`starting ${name} (${version})`);
      const peer =
        name === 'opsbro' || name === 'opsbro-bare'
          ? await startOpsbro(dir, name, name === 'opsbro' ? disabledPacks : shippedPacks(false))
          : name === 'node_exporter'
            ? await startNodeExporter()
            : await startNetdata(dir);
      peers.push(peer);
      results.set(name, { name, version });
    } catch (err) {
      if (interrupted()) throw err;
      const reason = `failed to start: ${err instanceof Error ? err.message : String(err)}`;
      results.set(name, { name, skipped: reason });
      log(`${name} ${reason}`);
    }
  }

  const agent = peers.find((p) => p.name === 'opsbro');
  let collectorsAtStart: CollectorsCheck | undefined;
  if (agent) {
    collectorsAtStart = await checkCollectors(agent);
    log(`opsbro: ${collectorsAtStart.summary}`);
  }
  const exporter = peers.find((p) => p.name === 'node_exporter');
  const scrape = async (): Promise<number> => {
    if (!exporter) return 0;
    const reply = await httpGet(`${exporter.url}/metrics`, 9000);
    if (reply.status !== 200) throw new Error(`node_exporter /metrics answered ${reply.status}`);
    return reply.bytes;
  };

  log(`settling ${settleS} s`);
  await scrape(); // node_exporter's first scrape sets things up: outside the window
  await sleep(settleS * 1000);

  // The agent's run counts as the window opens, so the runs counted are the window's only.
  const runsAtWindowStart = agent ? await runsPerCollector(agent) : undefined;
  log(`measuring ${seconds} s`);
  const measured: Measured[] = peers.map((peer) => ({ peer, samples: [] }));
  const sampleAll = (): void => {
    for (const m of measured) {
      if (!running(m.peer.proc)) throw new Error(describeExit(m.peer.proc));
      const sample = seen.remember(sampleTree(m.peer.proc.pid));
      if (!sample) throw new Error(describeExit(m.peer.proc));
      m.samples.push(sample);
    }
  };
  const t0 = performance.now();
  sampleAll();
  let scrapes = 0;
  let scrapeBytes = 0;
  const ticks = Math.max(1, Math.round(seconds / INTERVAL_S));
  for (let tick = 1; tick <= ticks; tick++) {
    const at = t0 + Math.min(tick * INTERVAL_S, seconds) * 1000;
    // Scrape at the start of each period (as Prometheus would), sample at its end.
    if (exporter) {
      scrapeBytes += await scrape();
      scrapes++;
    }
    await sleep(Math.max(0, at - performance.now()));
    sampleAll();
    if (tick % 6 === 0) log(`${Math.round((performance.now() - t0) / 1000)} s of ${seconds}`);
  }
  const windowS = (performance.now() - t0) / 1000;

  let collectorsAtEnd: CollectorsCheck | undefined;
  if (agent) collectorsAtEnd = await checkCollectors(agent);

  for (const m of measured) {
    const first = m.samples[0]!;
    const last = m.samples.at(-1)!;
    const cpuSeconds = last.cpuSeconds - first.cpuSeconds;
    const rss = m.samples.map((s) => s.rssBytes / 2 ** 20);
    results.set(m.peer.name, {
      ...results.get(m.peer.name)!,
      startupCpuSeconds: round(first.cpuSeconds, 2),
      cpuSeconds: round(cpuSeconds, 2),
      cpuPercent: round((cpuSeconds / windowS) * 100, 3),
      rssMiBAvg: round(rss.reduce((a, b) => a + b, 0) / rss.length, 1),
      rssMiBMax: round(Math.max(...rss), 1),
      processesMax: Math.max(...m.samples.map((s) => s.members.length)),
    });
  }

  // Collector runs in the window, and the agent's own account of their cost (last run of each).
  let agentCollectors: Record<string, unknown> | undefined;
  let osRunsInWindow: number | null = null;
  if (collectorsAtStart && collectorsAtEnd) {
    const os = collectorsAtEnd.statuses.filter((s) => OS_TYPES.has(s.type));
    if (runsAtWindowStart)
      osRunsInWindow = os.reduce((sum, s) => sum + (s.runs - (runsAtWindowStart.get(s.name) ?? 0)), 0);
    agentCollectors = {
      running: collectorsAtEnd.running,
      atStart: collectorsAtStart.summary,
      atEnd: collectorsAtEnd.summary,
      osRunsInWindow,
      osLastDurationMsSum: round(
        os.reduce((sum, s) => sum + (s.last_duration_ms ?? 0), 0),
        3,
      ),
      collectors: collectorsAtEnd.statuses.map((s) => ({
        name: s.name,
        type: s.type,
        state: s.state,
        runs: s.runs,
        errors: s.errors,
        lastDurationMs: s.last_duration_ms,
      })),
    };
  }

  const ordered = names.map((name) => results.get(name)!);
  const opsbro = results.get('opsbro');
  const nodeExporter = results.get('node_exporter');
  const netdata = results.get('netdata');
  const exporterCpuPerScrapeMs =
    nodeExporter?.cpuSeconds !== undefined && scrapes > 0
      ? round((nodeExporter.cpuSeconds * 1000) / scrapes, 1)
      : null;
  const opsbroCpuPerIntervalMs =
    opsbro?.cpuSeconds !== undefined ? round((opsbro.cpuSeconds * 1000) / (windowS / INTERVAL_S), 1) : null;
  // What the packs add inside the agent: opsbro minus the same agent without packs, same window.
  const bare = results.get('opsbro-bare');
  const packsCpuSeconds =
    opsbro?.cpuSeconds !== undefined && bare?.cpuSeconds !== undefined
      ? round(opsbro.cpuSeconds - bare.cpuSeconds, 2)
      : undefined;
  const packs =
    packsCpuSeconds === undefined
      ? null
      : {
          cpuSeconds: packsCpuSeconds,
          cpuPercent: round((packsCpuSeconds / windowS) * 100, 3),
          cpuMsPer10s: round((packsCpuSeconds * 1000) / (windowS / INTERVAL_S), 1),
          ratioNodeExporter: ratio(Math.max(0, packsCpuSeconds), nodeExporter?.cpuSeconds),
        };
  const report = {
    bench: 'collectors',
    node: process.version,
    seconds,
    windowS: round(windowS, 1),
    settleS,
    opsbroDisabledPacks: disabledPacks,
    inProcess,
    peers: ordered,
    agentCollectors: agentCollectors ?? null,
    nodeExporter: { scrapes, bytesPerScrape: scrapes ? Math.round(scrapeBytes / scrapes) : null },
    perInterval: { opsbroCpuMs: opsbroCpuPerIntervalMs, nodeExporterCpuMsPerScrape: exporterCpuPerScrapeMs },
    packs,
    ratio: {
      cpuOpsbroNodeExporter: ratio(opsbro?.cpuSeconds, nodeExporter?.cpuSeconds),
      cpuOpsbroNetdata: ratio(opsbro?.cpuSeconds, netdata?.cpuSeconds),
      rssOpsbroNodeExporter: ratio(opsbro?.rssMiBAvg, nodeExporter?.rssMiBAvg),
      rssOpsbroNetdata: ratio(opsbro?.rssMiBAvg, netdata?.rssMiBAvg),
    },
    targets: {
      opsbroUnderOnePercent: opsbro?.cpuPercent === undefined ? null : opsbro.cpuPercent < 1,
      opsbroAtMostNodeExporter:
        opsbro?.cpuSeconds === undefined || nodeExporter?.cpuSeconds === undefined
          ? null
          : opsbro.cpuSeconds <= nodeExporter.cpuSeconds,
      collectorsRunning: collectorsAtEnd?.running ?? null,
    },
  };
  if (!JSON_ONLY) {
    const lines = [peersTable(ordered, windowS, INTERVAL_S, disabledPacks.length > 0)];
    if (collectorsAtEnd)
      lines.push(
        `opsbro collectors: ${collectorsAtEnd.summary}` +
          (disabledPacks.length ? ` (application packs disabled: ${disabledPacks.join(', ')})` : ''),
      );
    if (collectorsAtEnd && !collectorsAtEnd.running)
      lines.push(
        'NOTE: the agent ran no OS collectors: its CPU above is the bare agent, not the collectors.',
      );
    if (agentCollectors)
      lines.push(
        `opsbro OS collector runs in the window: ${osRunsInWindow ?? '-'}; ` +
          `agent-measured wall time of the last run of each, summed: ${String(agentCollectors.osLastDurationMsSum)} ms`,
      );
    if (exporterCpuPerScrapeMs !== null)
      lines.push(
        `node_exporter: ${scrapes} scrapes, ${report.nodeExporter.bytesPerScrape} bytes each, ` +
          `${exporterCpuPerScrapeMs} ms CPU per scrape; opsbro: ${opsbroCpuPerIntervalMs ?? '-'} ms CPU per ${INTERVAL_S} s`,
      );
    if (packs)
      lines.push(
        `opsbro's packs (opsbro − opsbro-bare): ${packs.cpuSeconds} CPU s, ${packs.cpuPercent}% of one core, ` +
          `${packs.cpuMsPer10s} ms per 10 s; packs/node_exporter: ${packs.ratioNodeExporter ?? '-'}x`,
      );
    lines.push(
      `targets: opsbro < 1% of one core: ${verdict(report.targets.opsbroUnderOnePercent)}; ` +
        `opsbro CPU <= node_exporter: ${verdict(report.targets.opsbroAtMostNodeExporter)}`,
    );
    console.log(lines.join('\n') + '\n');
  }
  console.log(JSON.stringify(report));

  log('stopping');
  const graceMs = (peer: Peer): number => (peer.name === 'netdata' ? 30_000 : 10_000);
  await Promise.all(peers.map((peer) => stop(peer.proc, graceMs(peer))));
}

runBench('bench:collectors', main, interrupted);
