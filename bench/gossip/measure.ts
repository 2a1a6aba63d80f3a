// The measured phases, the same for every system:
//   convergence  - from the return of the last join until every agent lists all N as alive;
//   idle         - after a settle time: CPU (schedstat ns), RSS and gossip bytes over a quiet window;
//   failure      - SIGKILL one non-seed agent; time until every other agent lists it failed (serf) / dead
//                  (opsbro), or no longer lists it.
// Polling: each round asks every agent that has not yet reached the goal (at most `pollConcurrency`
// requests in flight) and sleeps out the rest of `pollMs`; an agent that has reached the goal is not
// asked again, so rounds get cheaper as the cluster converges. A time is taken when the answer arrives,
// so it overstates the true time by at most one round (reported as the slowest round: right after the
// joins at N=100, loaded agents answer slowly). Convergence needs full lists; the failure phase asks serf
// only for the members it does not list as alive (members-filtered, a few bytes instead of N entries:
// full lists from 99 agents 4-5 times a second cost the bench half a core, which the agents then lack).
// During the idle window the bench stays almost silent (so it does not pay the agents' CPU): it asks one
// agent per idlePollMs, rotating, for the members it does not list as alive - any live member marked
// failed anywhere shows up there too, since a failure is gossiped to everyone until it is refuted.
// Every answer in every phase is checked for false failures: a live (non-victim) member listed as
// failed/dead or left. Suspicions are counted apart (a suspicion is not a failure): opsbro shows
// `suspect` members and incarnations (one that rises during the idle window is a refuted suspicion);
// serf's RPC shows neither, so its refutations are counted from its warn-level log lines.
import { setTimeout as sleep } from 'node:timers/promises';
import type { ByteCounter } from './bytes.js';
import { cpuNs, describeExit, mapLimit, rssKiB, running } from './procs.js';
import type { Agent, Cluster, GossipSystem, Member } from './system.js';

export interface Options {
  pollMs: number;
  pollConcurrency: number;
  timeoutMs: number;
  settleMs: number;
  idleMs: number;
  idlePollMs: number;
}

export interface Timing {
  /** Seconds until the last agent reached the goal (null: timed out). */
  maxS: number | null;
  /** Seconds until half of the agents had. */
  medianS: number | null;
  reached: number;
  of: number;
  rounds: number;
  /** The slowest poll round: answers are stamped when they arrive, so this bounds the error. */
  slowestRoundS: number;
  /** CPU the bench itself used while polling, % of one core (it shares the 2 cores with the agents). */
  pollerCpuPercent: number;
}

export interface IdleResult {
  windowS: number;
  cpuPercentAvg: number;
  cpuPercentMax: number;
  rssMiBAvg: number;
  rssMiBMax: number;
  bytesPerSecPerAgent: number;
  udpBytesPerSecPerAgent: number | null;
  tcpBytesPerSecPerAgent: number | null;
  /** Refuted suspicions during the window: serf from its logs, opsbro from incarnations that rose. */
  refutations: number | null;
  polls: number;
}

/** Collects what every answer says about live members. */
export class Watch {
  readonly falseFailures = new Map<string, string>();
  readonly suspicions = new Set<string>();
  pollErrors = 0;
  /** Agents killed on purpose: listed as failed is right for them. */
  readonly victims = new Set<string>();

  see(phase: string, observer: Agent, members: Member[]): void {
    for (const m of members) {
      if (this.victims.has(m.name)) continue;
      if (m.state === 'failed' || m.state === 'left' || m.state === 'other') {
        const key = `${observer.name}->${m.name}`;
        if (!this.falseFailures.has(key))
          this.falseFailures.set(key, `${phase}: ${observer.name} listed ${m.name} as ${m.state}`);
      } else if (m.state === 'suspect') this.suspicions.add(`${phase}: ${observer.name} suspected ${m.name}`);
    }
  }
}

function assertRunning(agents: Agent[], except?: Agent): void {
  for (const a of agents) if (a !== except && !running(a.proc)) throw new Error(describeExit(a.proc));
}

async function poll(
  cluster: Cluster,
  agent: Agent,
  watch: Watch,
  phase: string,
  onlyNotAlive = false,
): Promise<Member[] | null> {
  try {
    const members =
      onlyNotAlive && cluster.notAlive ? await cluster.notAlive(agent) : await cluster.members(agent);
    watch.see(phase, agent, members);
    return members;
  } catch {
    watch.pollErrors++;
    return null;
  }
}

function timing(
  times: number[],
  of: number,
  rounds: number,
  slowestRoundMs: number,
  pollerCpuPercent: number,
): Timing {
  const sorted = [...times].sort((a, b) => a - b);
  const s = (ms: number | undefined): number | null =>
    ms === undefined ? null : Number((ms / 1000).toFixed(2));
  return {
    maxS: sorted.length === of ? s(sorted.at(-1)) : null,
    medianS: s(sorted[Math.ceil(of / 2) - 1]),
    reached: sorted.length,
    of,
    rounds,
    slowestRoundS: round(slowestRoundMs / 1000, 2),
    pollerCpuPercent: round(pollerCpuPercent, 1),
  };
}

/** Polls `observers` until `reached(members)` holds at each (or timeout); returns ms per observer. */
async function until(
  cluster: Cluster,
  observers: Agent[],
  reached: (members: Member[]) => boolean,
  phase: string,
  opts: Options,
  watch: Watch,
  except?: Agent,
  onlyNotAlive = false,
): Promise<Timing> {
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  const at = new Map<Agent, number>();
  let rounds = 0;
  let slowestRound = 0;
  while (at.size < observers.length && performance.now() - t0 < opts.timeoutMs) {
    const roundStart = performance.now();
    const pending = observers.filter((a) => !at.has(a));
    await mapLimit(pending, opts.pollConcurrency, async (agent) => {
      const members = await poll(cluster, agent, watch, phase, onlyNotAlive);
      if (members && reached(members)) at.set(agent, performance.now() - t0);
    });
    rounds++;
    slowestRound = Math.max(slowestRound, performance.now() - roundStart);
    // Every agent still meant to run must be running (earlier victims excepted).
    assertRunning(
      cluster.agents.filter((a) => !watch.victims.has(a.name)),
      except,
    );
    await sleep(Math.max(0, opts.pollMs - (performance.now() - roundStart)));
  }
  const cpu = process.cpuUsage(cpu0);
  const pollerCpu = ((cpu.user + cpu.system) / 1000 / (performance.now() - t0)) * 100;
  return timing([...at.values()], observers.length, rounds, slowestRound, pollerCpu);
}

export function convergence(cluster: Cluster, opts: Options, watch: Watch): Promise<Timing> {
  const names = new Set(cluster.agents.map((a) => a.name));
  const allAlive = (members: Member[]): boolean =>
    new Set(members.filter((m) => m.state === 'alive' && names.has(m.name)).map((m) => m.name)).size ===
    names.size;
  return until(cluster, cluster.agents, allAlive, 'convergence', opts, watch);
}

export async function failureDetection(
  cluster: Cluster,
  victim: Agent,
  opts: Options,
  watch: Watch,
): Promise<Timing> {
  watch.victims.add(victim.name);
  victim.proc.child.kill('SIGKILL');
  await victim.proc.exited;
  const observers = cluster.agents.filter((a) => !watch.victims.has(a.name));
  // With a server-side "not alive" filter (serf), the victim shows up once failed; with the full list
  // (opsbro), it counts once failed or no longer listed (reaped).
  const filtered = cluster.notAlive !== undefined;
  const failed = (members: Member[]): boolean => {
    const m = members.find((x) => x.name === victim.name);
    return m === undefined ? !filtered : m.state === 'failed';
  };
  return until(cluster, observers, failed, 'failure', opts, watch, victim, filtered);
}

async function incarnations(
  cluster: Cluster,
  opts: Options,
  watch: Watch,
): Promise<Map<string, number> | null> {
  const out = new Map<string, number>();
  const views = await mapLimit(cluster.agents, opts.pollConcurrency, (a) => poll(cluster, a, watch, 'idle'));
  for (const view of views)
    for (const m of view ?? []) {
      if (m.incarnation === undefined) return null;
      out.set(m.name, Math.max(out.get(m.name) ?? 0, m.incarnation));
    }
  return out;
}

export async function idle(
  cluster: Cluster,
  system: GossipSystem,
  counter: ByteCounter,
  opts: Options,
  watch: Watch,
): Promise<IdleResult> {
  const { agents } = cluster;
  const n = agents.length;
  await sleep(opts.settleMs);
  const inc0 = cluster.refutations ? null : await incarnations(cluster, opts, watch);
  const refuted0 = cluster.refutations?.() ?? 0;

  const cpu0 = agents.map((a) => ({ ns: cpuNs(a.proc.pid), t: performance.now() }));
  const bytes0 = counter.read(system.name);
  const t0 = performance.now();
  const rss: number[][] = agents.map(() => []);
  const sampleRss = (): void => agents.forEach((a, i) => rss[i]!.push(rssKiB(a.proc.pid)));
  sampleRss();
  let polls = 0;
  for (let tick = 1; performance.now() - t0 < opts.idleMs; tick++) {
    await sleep(Math.max(0, Math.min(t0 + tick * opts.idlePollMs, t0 + opts.idleMs) - performance.now()));
    assertRunning(agents);
    await poll(cluster, agents[tick % n]!, watch, 'idle', true);
    polls++;
    if (tick % 5 === 0) sampleRss();
  }
  const bytes1 = counter.read(system.name);
  const elapsedS = (performance.now() - t0) / 1000;
  const cpu = agents.map((a, i) => {
    const ns = cpuNs(a.proc.pid) - cpu0[i]!.ns;
    return (ns / 1e6 / (performance.now() - cpu0[i]!.t)) * 100;
  });
  sampleRss();
  const inc1 = inc0 && (await incarnations(cluster, opts, watch));

  let refutations: number | null = cluster.refutations ? cluster.refutations() - refuted0 : null;
  if (inc0 && inc1) refutations = [...inc1].filter(([name, inc]) => inc > (inc0.get(name) ?? inc)).length;
  const rssAvg = rss.map((s) => s.reduce((a, b) => a + b, 0) / s.length / 1024);
  const perAgent = (b: number | null, a: number | null): number | null =>
    b === null || a === null ? null : round((b - a) / elapsedS / n, 1);
  return {
    windowS: round(elapsedS, 1),
    cpuPercentAvg: round(cpu.reduce((a, b) => a + b, 0) / n, 3),
    cpuPercentMax: round(Math.max(...cpu), 3),
    rssMiBAvg: round(rssAvg.reduce((a, b) => a + b, 0) / n, 1),
    rssMiBMax: round(Math.max(...rss.flat()) / 1024, 1),
    bytesPerSecPerAgent: perAgent(bytes1.total, bytes0.total)!,
    udpBytesPerSecPerAgent: perAgent(bytes1.udp, bytes0.udp),
    tcpBytesPerSecPerAgent: perAgent(bytes1.tcp, bytes0.tcp),
    refutations,
    polls,
  };
}

export function round(n: number, digits: number): number {
  return Number(n.toFixed(digits));
}
