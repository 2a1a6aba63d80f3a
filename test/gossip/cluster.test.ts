// Five agents as separate processes on 127.20.0.x: join, failure detection after SIGKILL,
// rejoin with a higher incarnation, graceful leave. Real processes, real UDP, real libp2p.
import { afterAll, describe, expect, it } from 'vitest';
import { cleanupAll, httpGet, runCli } from '../helpers/agent-process.js';
import { type GossipAgent, membersOf, startGossipAgent, viewOf, waitFor } from '../helpers/gossip-agents.js';

afterAll(cleanupAll);

const BLOCK = 20;
/** With the default 1 s protocol period, Serf takes about 5.6 s at N=10; allow room on a busy CI. */
const FAILURE_DETECTION_BOUND_MS = 15_000;

describe('a five-agent cluster', () => {
  const agents: GossipAgent[] = [];

  it('forms: every agent sees five alive members', async () => {
    agents.push(await startGossipAgent(BLOCK, 1));
    for (let index = 2; index <= 5; index++) {
      agents.push(await startGossipAgent(BLOCK, index, { seeds: ['127.20.0.1'] }));
    }
    await waitFor(
      async () =>
        (await Promise.all(agents.map(viewOf))).every(
          (view) => Object.values(view).filter((state) => state === 'alive').length === 5,
        ),
      15_000,
      'five alive everywhere',
    );
    const members = runCli(['gossip', 'members', '--json', '--api', agents[0]!.api]);
    expect(members.code).toBe(0);
    expect((JSON.parse(members.stdout) as Array<{ name: string }>).map((member) => member.name)).toEqual([
      'node-1',
      'node-2',
      'node-3',
      'node-4',
      'node-5',
    ]);
    const detail = runCli(['gossip', 'members', '--detail', '--api', agents[0]!.api]);
    expect(detail.stdout).toMatch(/^NAME +ADDRESS +STATE +DC +GROUPS +ID +INC +VERSION +RTT$/m);
    expect(detail.stdout).toMatch(
      /^node-2 +127\.20\.0\.2:6768 +alive +dc1 +- +[0-9a-f-]{36} +\d+ +\S+ +\d+ ms$/m,
    );
  }, 60_000);

  it('marks a SIGKILLed agent dead everywhere within the bound', async () => {
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
    agents[4] = await startGossipAgent(BLOCK, 5, { seeds: ['127.20.0.1'] }, victim.dirs.root);
    await waitFor(
      async () => (await Promise.all(agents.map(viewOf))).every((view) => view['node-5'] === 'alive'),
      15_000,
      'node-5 alive again everywhere',
    );
    const after = (await membersOf(agents[0]!)).find((member) => member.name === 'node-5')!.incarnation;
    expect(after).toBeGreaterThan(before);
  }, 60_000);

  it('`gossip leave` gives left, not dead, and the agent keeps running', async () => {
    const leaver = agents[3]!;
    const result = runCli(['gossip', 'leave', '--api', leaver.api]);
    expect(result.code).toBe(0);
    expect(result.stdout).toBe('left the cluster\n');
    await waitFor(
      async () =>
        (await Promise.all([0, 1, 2, 4].map((index) => viewOf(agents[index]!)))).every(
          (view) => view['node-4'] === 'left',
        ),
      10_000,
      'node-4 left everywhere',
    );
    // It stays left (nobody probes it into dead), and its process still serves its API.
    await new Promise((resolve) => setTimeout(resolve, 3000));
    expect((await viewOf(agents[0]!))['node-4']).toBe('left');
    expect(leaver.process.exitCode).toBeNull();
  }, 30_000);

  it('a graceful stop (SIGTERM) also leaves the cluster', async () => {
    const stopping = agents[2]!;
    stopping.process.kill('SIGTERM');
    expect((await stopping.exited).code).toBe(0);
    await waitFor(async () => (await viewOf(agents[0]!))['node-3'] === 'left', 10_000, 'node-3 left');
  }, 30_000);
});
