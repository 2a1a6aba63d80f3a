// Agents as separate processes on 127.<block>.0.x: join, failure detection after SIGKILL, rejoin
// with a higher incarnation, graceful leave. Real processes, real UDP, real libp2p. Each case forms
// the cluster it needs, on a block of addresses of its own, and stops it after: any case runs alone.
import { afterEach, describe, expect, it } from 'vitest';
import { cleanupAll, httpGet, runCli } from '../helpers/agent-process.js';
import {
  type GossipAgent,
  membersOf,
  startCluster,
  startGossipAgent,
  viewOf,
  waitFor,
} from '../helpers/gossip-agents.js';

afterEach(cleanupAll);

/** With the default 1 s protocol period, Serf takes about 5.6 s at N=10; allow room on a busy CI. */
const FAILURE_DETECTION_BOUND_MS = 15_000;

/** What `agent` logged after the first line matching `marker` (undefined while there is none). */
function loggedAfter(agent: GossipAgent, marker: RegExp): string | undefined {
  const output = agent.output();
  const found = marker.exec(output);
  return found ? output.slice(found.index + found[0].length) : undefined;
}

describe('a cluster of agents', () => {
  it('forms: every agent sees five alive members', async () => {
    const agents = await startCluster(20, 5);
    const members = runCli(['gossip', 'members', '--json', '--api', agents[0]!.api]);
    expect(members.code).toBe(0);
    expect((JSON.parse(members.stdout) as Array<{ name: string }>).map((member) => member.name)).toEqual([
      'node-1',
      'node-2',
      'node-3',
      'node-4',
      'node-5',
    ]);
    // The RTT column shows once node-1 has probed node-2 directly (a probe period or a few).
    await waitFor(
      async () =>
        (
          JSON.parse((await httpGet(`${agents[0]!.api}/agent/members`)).body) as Array<{
            name: string;
            rtt_ms: number | null;
          }>
        ).find((member) => member.name === 'node-2')?.rtt_ms != null,
      10_000,
      'an RTT for node-2 on node-1',
    );
    const detail = runCli(['gossip', 'members', '--detail', '--api', agents[0]!.api]);
    expect(detail.stdout).toMatch(/^NAME +ADDRESS +STATE +DC +GROUPS +ID +INC +VERSION +RTT$/m);
    expect(detail.stdout).toMatch(
      /^node-2 +127\.20\.0\.2:6768 +alive +dc1 +- +[0-9a-f-]{36} +\d+ +\S+ +\d+ ms$/m,
    );
  }, 60_000);

  it('marks a SIGKILLed agent dead everywhere within the bound, and it rejoins with a higher incarnation', async () => {
    const agents = await startCluster(23, 5);
    const victim = agents[4]!;
    const before = (await membersOf(agents[0]!)).find((member) => member.name === 'node-5')!.incarnation;
    victim.process.kill('SIGKILL');
    await victim.exited;
    const tookMs = await waitFor(
      async () =>
        (await Promise.all(agents.slice(0, 4).map(viewOf))).every((view) => view['node-5'] === 'dead'),
      FAILURE_DETECTION_BOUND_MS,
      'node-5 dead everywhere',
    );
    console.log(`failure detection at N=5: ${tookMs} ms`);
    const dead = JSON.parse(
      (await httpGet(`${agents[0]!.api}/agent/members?state=dead,left`)).body,
    ) as Array<{ name: string }>;
    expect(dead.map((member) => member.name)).toEqual(['node-5']);
    expect(agents[0]!.output()).toContain('node-suspect subsystem=gossip node=node-5');

    // Restarted on the same data dir: same id, back alive, with a higher incarnation.
    agents[4] = await startGossipAgent(23, 5, { seeds: [agents[0]!.address] }, victim.dirs.root);
    await waitFor(
      async () => (await Promise.all(agents.map(viewOf))).every((view) => view['node-5'] === 'alive'),
      15_000,
      'node-5 alive again everywhere',
    );
    const after = (await membersOf(agents[0]!)).find((member) => member.name === 'node-5')!.incarnation;
    expect(after).toBeGreaterThan(before);
  }, 60_000);

  it('`gossip leave` gives left, not dead: nobody probes a left member, and the agent keeps running', async () => {
    // Debug level: each probe is logged, with the member it probes.
    const agents = await startCluster(24, 4, { logLevel: 'debug' });
    const leaver = agents[3]!;
    const observers = agents.slice(0, 3);
    const result = runCli(['gossip', 'leave', '--api', leaver.api]);
    expect(result.code).toBe(0);
    expect(result.stdout).toBe('left the cluster\n');
    await waitFor(
      async () => (await Promise.all(observers.map(viewOf))).every((view) => view['node-4'] === 'left'),
      10_000,
      'node-4 left everywhere',
    );
    // From the moment each observer took node-4 as left (its node-leave line), it probes on: wait
    // until it has probed each other live member twice (two passes of its probe list, in which a
    // member still probed would have come up), then look at what it did meanwhile.
    const sinceLeave = (agent: GossipAgent) =>
      loggedAfter(agent, /node-leave subsystem=gossip node=node-4\b.*\n/);
    const probesOf = (log: string, name: string) =>
      log.match(new RegExp(`DEBUG +probe .*node=${name}\\b`, 'g'))?.length ?? 0;
    await waitFor(
      () =>
        Promise.resolve(
          observers.every((observer) => {
            const log = sinceLeave(observer);
            return (
              log !== undefined &&
              observers.filter((other) => other !== observer).every((other) => probesOf(log, other.name) >= 2)
            );
          }),
        ),
      15_000,
      'two probe passes on every observer since node-4 left',
    );
    for (const observer of observers) {
      const log = sinceLeave(observer)!;
      expect(probesOf(log, 'node-4'), observer.name).toBe(0);
      expect(log, observer.name).not.toMatch(/node-(suspect|dead) subsystem=gossip node=node-4\b/);
      expect((await viewOf(observer))['node-4']).toBe('left');
    }
    expect(leaver.process.exitCode).toBeNull();
    expect((await httpGet(`${leaver.api}/agent/info`)).status).toBe(200);
  }, 60_000);

  it('a graceful stop (SIGTERM) also leaves the cluster', async () => {
    const agents = await startCluster(25, 3);
    const stopping = agents[2]!;
    stopping.process.kill('SIGTERM');
    expect((await stopping.exited).code).toBe(0);
    await waitFor(
      async () =>
        (await Promise.all(agents.slice(0, 2).map(viewOf))).every((view) => view['node-3'] === 'left'),
      10_000,
      'node-3 left everywhere',
    );
  }, 30_000);
});
