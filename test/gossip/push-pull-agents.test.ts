// Push-pull protocol 2 between agent processes (real UDP, real libp2p): joins trade full state, a
// settled cluster's push-pulls end at the digest hash, and a member's death is still agreed on.
import { afterEach, describe, expect, it } from 'vitest';
import { cleanupAll, httpGet } from '../helpers/agent-process.js';
import { type GossipAgent, startCluster, viewOf, waitFor } from '../helpers/gossip-agents.js';

afterEach(cleanupAll);

const BLOCK = 81;

/** opsbro_gossip_push_pulls_total of `agent`, by "side|outcome". */
async function pushPulls(agent: GossipAgent): Promise<Record<string, number>> {
  const { status, body } = await httpGet(`${agent.api}/metrics`);
  expect(status).toBe(200);
  const counts: Record<string, number> = {};
  for (const [, side, outcome, value] of body.matchAll(
    /^opsbro_gossip_push_pulls_total\{side="(\w+)",outcome="([\w-]+)"\} (\d+)$/gm,
  ))
    counts[`${side}|${outcome}`] = Number(value);
  return counts;
}

describe('push-pull, digest first', () => {
  it('sends full state on a join, then only a hash while the views agree', async () => {
    const agents = await startCluster(BLOCK, 3, { yaml: 'gossip:\n  push_pull_interval_s: 0.5' });
    const [seed, ...joiners] = agents as [GossipAgent, GossipAgent, GossipAgent];
    // Each joiner traded full state with the seed, once. Gossip can show a joiner every member
    // alive before its join's push-pull has returned: wait for the counts, then check them.
    await waitFor(
      async () =>
        (await pushPulls(seed))['served|full'] === 2 &&
        (await Promise.all(joiners.map(pushPulls))).every((counts) => counts['sent|full'] === 1),
      10_000,
      'both joins counted full on both ends',
    );
    expect((await pushPulls(seed))['served|full']).toBe(2);
    for (const joiner of joiners) expect((await pushPulls(joiner))['sent|full']).toBe(1);

    // Settled: every agent's push-pulls end in sync, and answer others' in sync.
    await waitFor(
      async () =>
        (await Promise.all(agents.map(pushPulls))).every(
          (counts) => (counts['sent|in-sync'] ?? 0) >= 3 && (counts['served|in-sync'] ?? 0) >= 1,
        ),
      20_000,
      'three in-sync push-pulls sent by each agent',
    );

    // A death is agreed on as before (push-pull is the backstop; gossip carries the news first).
    const victim = agents[2]!;
    victim.process.kill('SIGKILL');
    await victim.exited;
    await waitFor(
      async () =>
        (await Promise.all(agents.slice(0, 2).map(viewOf))).every((view) => view['node-3'] === 'dead'),
      20_000,
      'node-3 dead on both others',
    );
    const counts = await Promise.all(agents.slice(0, 2).map(pushPulls));
    for (const count of counts) expect(count['sent|v1'] ?? 0).toBe(0);
  }, 60_000);
});
