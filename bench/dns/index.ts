// DNS benchmark (issue 13): queries per second and latency of opsbro's DNS interface, asked by
// dnsperf, beside dnsmasq answering the same names from a hosts file, one after the other in one
// run, the same query file and the same dnsperf settings for both. opsbro answers from the live
// membership of a BENCH_N-member cluster (default 50: real agents on 127.0.2.x, every one in
// group `bench`, formed before the measurement): the query file asks, in turn, one node
// (`opsbro-7.node.dc1.opsbro A`, one record) and the whole group (`bench.group.dc1.opsbro A`, 50
// records, EDNS0 so they fit one UDP answer). dnsmasq's hosts file gives the same names the same
// addresses. Reported: QPS, average latency, lost queries, and opsbro/dnsmasq ratios; the target is
// at least half of dnsmasq's QPS.
//
// Setup (once, root):  sh bench/dns/setup.sh        (apt-get install dnsperf dnsmasq-base)
// Run:                 npm run bench:dns             (about 2 minutes with 50 agents)
// Environment:         BENCH_N=50 (members), BENCH_SECONDS=10 (per server), BENCH_CLIENTS=4 (dnsperf -c),
//                      BENCH_OUTSTANDING=100 (dnsperf -q)
// `node dist/bench/dns/index.js --json` prints only the JSON line. Every process started is stopped
// by pid, every temp dir removed, at the end, on error and on Ctrl-C.
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { get } from 'node:http';
import { join } from 'node:path';
import { positiveEnv } from '../lib/env.js';
import { DNSMASQ, dnsmasqArgs } from './dnsmasq.js';
import { ratio, verdict } from '../gossip/report.js';
import { freePort, run, runBench, stopOnSignals, tempDir, track, stop } from '../gossip/procs.js';

const N = positiveEnv('BENCH_N', 50, true);
const SECONDS = positiveEnv('BENCH_SECONDS', 10, true);
const CLIENTS = positiveEnv('BENCH_CLIENTS', 4, true);
const OUTSTANDING = positiveEnv('BENCH_OUTSTANDING', 100, true);
const JSON_ONLY = process.argv.includes('--json');
const DNSPERF = '/usr/bin/dnsperf';
const log = (line: string): void => {
  if (!JSON_ONLY) console.error(`[bench:dns] ${line}`);
};

interface PerfResult {
  qps: number;
  avgLatencyMs: number;
  sent: number;
  completed: number;
  lost: number;
}

/** dnsperf's summary, read from its output. */
function parsePerf(text: string): PerfResult {
  const number = (pattern: RegExp): number => {
    const found = pattern.exec(text);
    if (!found) throw new Error(`dnsperf printed no ${String(pattern)}:\n${text}`);
    return Number(found[1]);
  };
  return {
    qps: number(/Queries per second:\s+([\d.]+)/),
    avgLatencyMs: number(/Average Latency \(s\):\s+([\d.]+)/) * 1000,
    sent: number(/Queries sent:\s+(\d+)/),
    completed: number(/Queries completed:\s+(\d+)/),
    lost: number(/Queries lost:\s+(\d+)/),
  };
}

async function dnsperf(server: string, port: number, queries: string): Promise<PerfResult> {
  const args = [
    '-s',
    server,
    '-p',
    String(port),
    '-d',
    queries,
    '-l',
    String(SECONDS),
    '-c',
    String(CLIENTS),
  ];
  const { code, output } = await run(
    'dnsperf',
    DNSPERF,
    [...args, '-q', String(OUTSTANDING), '-e', '-t', '2'],
    (SECONDS + 30) * 1000,
  );
  if (code !== 0) throw new Error(`dnsperf exited with ${String(code)}:\n${output}`);
  return parsePerf(output);
}

function getJson<T>(url: string): Promise<T> {
  return new Promise((resolve, reject) => {
    get(url, (res) => {
      let body = '';
      res.on('data', (chunk: Buffer) => (body += chunk.toString()));
      res.on('end', () => {
        try {
          resolve(JSON.parse(body) as T);
        } catch (error) {
          reject(error instanceof Error ? error : new Error(String(error)));
        }
      });
    }).on('error', reject);
  });
}

async function main(): Promise<void> {
  for (const [binary, pkg] of [
    [DNSPERF, 'dnsperf'],
    [DNSMASQ, 'dnsmasq-base'],
  ] as const) {
    if (spawnSync(binary, ['--version']).error)
      throw new Error(`${binary} is missing: sh bench/dns/setup.sh (${pkg})`);
  }
  const dir = tempDir('opsbro-bench-dns-');
  // The agents, from the gossip bench (its module reads this at load): every one in group bench.
  process.env.BENCH_OPSBRO_YAML = 'groups: [bench]';
  const { opsbro } = await import('../gossip/opsbro.js');
  log(`starting ${N} agents on ${opsbro.block}.x`);
  const cluster = await opsbro.start(N, dir, 10);
  await cluster.join(8);
  const seed = cluster.agents[0]!;
  for (const deadline = Date.now() + 120_000; ;) {
    const alive = (await cluster.members(seed)).filter((member) => member.state === 'alive').length;
    if (alive === N) break;
    if (Date.now() > deadline) throw new Error(`the cluster did not form: ${alive} of ${N} alive`);
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  const info = await getJson<{ ports: { dns?: number } }>(`http://${seed.address}:6770/agent/info`);
  const opsbroPort = info.ports.dns;
  if (!opsbroPort) throw new Error('the agent reports no DNS port');

  // The same names, the same addresses, from a hosts file.
  const hosts = join(dir, 'hosts');
  writeFileSync(
    hosts,
    cluster.agents
      .map(
        (agent) =>
          `${agent.address} bench.group.dc1.opsbro\n${agent.address} ${agent.name}.node.dc1.opsbro\n`,
      )
      .join(''),
  );
  const queries = join(dir, 'queries');
  writeFileSync(queries, 'opsbro-7.node.dc1.opsbro A\nbench.group.dc1.opsbro A\n');
  const dnsmasqPort = await freePort();
  const dnsmasq = track('dnsmasq', DNSMASQ, dnsmasqArgs(dnsmasqPort, hosts, ['--cache-size=1000']));
  await new Promise((resolve) => setTimeout(resolve, 500));

  log(`dnsmasq: dnsperf for ${SECONDS} s`);
  const dnsmasqResult = await dnsperf('127.0.0.1', dnsmasqPort, queries);
  await stop(dnsmasq);
  log(`opsbro (${N} members): dnsperf for ${SECONDS} s`);
  const opsbroResult = await dnsperf(seed.address, opsbroPort, queries);
  const stats = await getJson<Record<string, unknown>>(`http://${seed.address}:6770/dns/stats`);
  cluster.close();

  const qpsRatio = ratio(opsbroResult.qps, dnsmasqResult.qps);
  const met = qpsRatio !== null && qpsRatio >= 0.5;
  const result = {
    bench: 'dns',
    node: process.version,
    members: N,
    seconds: SECONDS,
    clients: CLIENTS,
    outstanding: OUTSTANDING,
    opsbro: opsbroResult,
    dnsmasq: dnsmasqResult,
    ratio: { qps: qpsRatio, latency: ratio(opsbroResult.avgLatencyMs, dnsmasqResult.avgLatencyMs) },
    opsbroStats: stats,
    targets: { qpsAtLeastHalfOfDnsmasq: met },
  };
  if (!JSON_ONLY) {
    const row = (name: string, a: number, b: number, digits = 0): string =>
      `${name.padEnd(28)}${a.toFixed(digits).padStart(14)}${b.toFixed(digits).padStart(14)}${(ratio(a, b)?.toFixed(2) ?? '-').padStart(10)}x`;
    console.log(
      `dnsperf -c ${CLIENTS} -q ${OUTSTANDING} -e, ${SECONDS} s each; opsbro answers from ${N} live members`,
    );
    console.log(`${''.padEnd(28)}${'opsbro'.padStart(14)}${'dnsmasq'.padStart(14)}${'ratio'.padStart(11)}`);
    console.log(row('queries per second', opsbroResult.qps, dnsmasqResult.qps));
    console.log(row('average latency, ms', opsbroResult.avgLatencyMs, dnsmasqResult.avgLatencyMs, 3));
    console.log(row('queries lost', opsbroResult.lost, dnsmasqResult.lost));
    console.log(`target: opsbro at least half of dnsmasq's QPS: ${verdict(met)}`);
    console.log('');
  }
  console.log(JSON.stringify(result));
}

runBench('bench:dns', main, stopOnSignals('bench:dns'));
