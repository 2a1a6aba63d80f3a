// In-process gossip simulation: N engines on an in-memory network in one process, to 1,000
// members and more. Figures are in protocol rounds, not seconds (the protocol is the same at any
// time scale), beside log2 N, the epidemic bound SWIM's dissemination scales with:
//   - formation (N <= FORM_MAX): every node joins through one seed; probe periods from the return of
//     the last join until all see all;
//   - dissemination: gossip rounds until one node's update (its groups) reaches all N;
//   - join: gossip rounds until a new node, joining through one member, is known to all N;
//   - failure detection: probe periods until every node marks a silently killed node dead;
//   - pkts/node/s: packets sent per node per second over the 5 probe periods after formation or
//     bootstrap (the tail of the joins' gossip included), at the run's own speed (5x for small
//     clusters, see below).
// Small clusters run 5x faster than real time; large ones at the default timings, so one event
// loop keeps up with all the engines (late timers would distort the protocol).
//
//   npm run bench:gossip-sim                 N = 10, 100, 1000
//   SIM_N=10,100,1000,2000 npm run bench:gossip-sim
import { setTimeout as sleep } from 'node:timers/promises';
import { SimulatedCluster, type SimulatedNode } from './gossip/simulator.js';
import { DEFAULT_TIMINGS, type GossipTimings } from '../agent/gossip/engine.js';

const SIZES = (process.env.SIM_N ?? '10,100,1000').split(',').map(Number);
const FORM_MAX = 100;

function timingsFor(n: number): Partial<GossipTimings> {
  const scale = n <= 100 ? 0.2 : 1;
  return {
    probeIntervalMs: DEFAULT_TIMINGS.probeIntervalMs * scale,
    probeTimeoutMs: DEFAULT_TIMINGS.probeTimeoutMs * scale,
    gossipIntervalMs: DEFAULT_TIMINGS.gossipIntervalMs * scale,
    pushPullIntervalMs: DEFAULT_TIMINGS.pushPullIntervalMs * scale,
    gossipToTheDeadMs: DEFAULT_TIMINGS.gossipToTheDeadMs * scale,
  };
}

async function until(check: () => boolean, timeoutMs: number, pollMs: number): Promise<number | null> {
  const start = performance.now();
  while (!check()) {
    if (performance.now() - start > timeoutMs) return null;
    await sleep(pollMs);
  }
  return performance.now() - start;
}

const everyNode = (cluster: SimulatedCluster, check: (node: SimulatedNode) => boolean) => () => {
  for (const node of cluster.nodes.values()) if (!check(node)) return false;
  return true;
};

interface Result {
  n: number;
  log2n: number;
  formationProbePeriods: number | null | 'bootstrapped';
  disseminationRounds: number | null;
  joinRounds: number | null;
  failureProbePeriods: number | null;
  packetsPerNodePerSecond: number;
  wallSeconds: number;
}

async function simulate(n: number): Promise<Result> {
  const wallStart = performance.now();
  const timings = timingsFor(n);
  const gossipMs = timings.gossipIntervalMs!;
  const probeMs = timings.probeIntervalMs!;
  const cluster = new SimulatedCluster(timings, { recordEvents: false });
  const nodes: SimulatedNode[] = [];
  let formationMs: number | null | 'bootstrapped' = 'bootstrapped';
  if (n <= FORM_MAX) {
    nodes.push(cluster.add(0));
    const seed = { address: nodes[0]!.engine.selfMember.record.address, port: 6768 };
    for (let index = 1; index < n; index++) nodes.push(cluster.add(index));
    await Promise.all(
      nodes.slice(1).map(async (node) => {
        while ((await node.engine.join([seed], 1000)) === 0);
      }),
    );
    formationMs = await until(() => cluster.converged(), 120_000, 10);
  } else {
    for (let index = 0; index < n; index++) nodes.push(cluster.add(index));
    cluster.bootstrap();
    await sleep(2 * probeMs);
  }

  const packetsBefore = cluster.network.packetsSent;
  const quietStart = performance.now();
  await sleep(5 * probeMs);
  const packetsPerNodePerSecond =
    (cluster.network.packetsSent - packetsBefore) / n / ((performance.now() - quietStart) / 1000);

  const updater = nodes[Math.floor(n / 2)]!.engine;
  const updatedId = updater.selfMember.record.id;
  updater.updateSelf({ groups: ['updated'] });
  const disseminationMs = await until(
    everyNode(cluster, (node) => node.engine.table.get(updatedId)?.record.groups[0] === 'updated'),
    60_000,
    Math.max(2, gossipMs / 10),
  );

  const newcomer = cluster.add(n);
  const newcomerId = newcomer.engine.selfMember.record.id;
  const through = { address: nodes[1]!.engine.selfMember.record.address, port: 6768 };
  const joinStart = performance.now();
  while ((await newcomer.engine.join([through], 1000)) === 0);
  const joinMs = await until(
    everyNode(cluster, (node) => node.engine.table.get(newcomerId)?.state === 'alive'),
    60_000,
    Math.max(2, gossipMs / 10),
  );
  const joinTotalMs = joinMs === null ? null : performance.now() - joinStart;

  const victim = nodes[n - 1]!.engine.selfMember.record.id;
  cluster.kill(victim);
  const failureMs = await until(
    () => cluster.statesOf(victim).every((state) => state === 'dead'),
    300_000,
    50,
  );
  cluster.stopAll();
  const rounds = (ms: number | null, unit: number) => (ms === null ? null : Number((ms / unit).toFixed(1)));
  return {
    n,
    log2n: Number(Math.log2(n).toFixed(1)),
    formationProbePeriods:
      typeof formationMs === 'number' || formationMs === null ? rounds(formationMs, probeMs) : formationMs,
    disseminationRounds: rounds(disseminationMs, gossipMs),
    joinRounds: rounds(joinTotalMs, gossipMs),
    failureProbePeriods: rounds(failureMs, probeMs),
    packetsPerNodePerSecond: Number(packetsPerNodePerSecond.toFixed(1)),
    wallSeconds: Number(((performance.now() - wallStart) / 1000).toFixed(1)),
  };
}

const cell = (value: string | number | null, width: number) => String(value ?? 'timeout').padStart(width);
console.log(
  `${'N'.padStart(6)} ${'log2 N'.padStart(7)} ${'formation'.padStart(12)} ${'dissemination'.padStart(14)} ${'ratio'.padStart(6)} ${'join'.padStart(6)} ${'failure'.padStart(8)} ${'pkts/node/s'.padStart(12)} ${'wall s'.padStart(7)}`,
);
console.log(
  `${''.padStart(6)} ${''.padStart(7)} ${'(periods)'.padStart(12)} ${'(rounds)'.padStart(14)} ${'/log2'.padStart(6)} ${'(rnds)'.padStart(6)} ${'(periods)'.padStart(8)}`,
);
const results: Result[] = [];
for (const n of SIZES) {
  const r = await simulate(n);
  results.push(r);
  const ratio = r.disseminationRounds === null ? 'n/a' : (r.disseminationRounds / r.log2n).toFixed(2);
  console.log(
    `${cell(r.n, 6)} ${cell(r.log2n, 7)} ${cell(r.formationProbePeriods, 12)} ${cell(r.disseminationRounds, 14)} ${cell(ratio, 6)} ${cell(r.joinRounds, 6)} ${cell(r.failureProbePeriods, 8)} ${cell(r.packetsPerNodePerSecond, 12)} ${cell(r.wallSeconds, 7)}`,
  );
}
console.log(JSON.stringify({ bench: 'gossip-sim', results }));
