// SIGTERM in the middle of the protocol (issue 10, item 6): an agent stopped while it waits for a
// probe's ack, while it runs a ping-req for another node, or while a push-pull is under way exits 0,
// with no "uncaught exception" on its way out. A member frozen with SIGSTOP keeps those moments
// open (its probes time out, go indirect, its push-pulls hang); the agents log each step at debug
// level, and the test sends SIGTERM as soon as the step shows in the log.
import { afterAll, describe, expect, it } from 'vitest';
import { cleanupAll } from '../helpers/agent-process.js';
import { type GossipAgent, startGossipAgent, viewOf, waitFor } from '../helpers/gossip-agents.js';

afterAll(cleanupAll);

/** Suspicion that lasts (20 × the probe period at least): the frozen member stays probed. */
const SLOW_SUSPICION = 'gossip:\n  suspicion_multiplier: 20';

async function startCluster(block: number, count: number, yaml: string): Promise<GossipAgent[]> {
  const addresses = Array.from({ length: count }, (_, index) => `127.${block}.0.${index + 1}`);
  const agents: GossipAgent[] = [];
  for (let index = 1; index <= count; index++) {
    const seeds = addresses.filter((_, other) => other !== index - 1);
    agents.push(await startGossipAgent(block, index, { seeds, yaml, logLevel: 'debug' }));
  }
  await waitFor(
    async () =>
      (await Promise.all(agents.map(viewOf))).every(
        (view) => Object.values(view).filter((state) => state === 'alive').length === count,
      ),
    20_000,
    `${count} alive`,
  );
  return agents;
}

/** Waits until one of `agents` logs a line matching `pattern` after `since` (output offsets). */
async function firstToLog(
  agents: GossipAgent[],
  pattern: RegExp,
  since: Map<GossipAgent, number>,
  timeoutMs: number,
): Promise<GossipAgent | undefined> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const found = agents.find((agent) => pattern.test(agent.output().slice(since.get(agent) ?? 0)));
    if (found) return found;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  return undefined;
}

const offsets = (agents: GossipAgent[]) => new Map(agents.map((agent) => [agent, agent.output().length]));

async function terminate(agent: GossipAgent): Promise<void> {
  agent.process.kill('SIGTERM');
  const { code, signal } = await agent.exited;
  expect(agent.output()).not.toMatch(/uncaught exception|unhandled/i);
  expect({ code, signal }).toEqual({ code: 0, signal: null });
}

describe('SIGTERM mid-protocol exits 0', () => {
  it('while probing a frozen member: during the indirect probe, on the helper, during the direct probe', async () => {
    const agents = await startCluster(48, 4, SLOW_SUSPICION);
    const [one, two, frozen, four] = agents as [GossipAgent, GossipAgent, GossipAgent, GossipAgent];
    frozen.process.kill('SIGSTOP');
    try {
      // The prober, waiting for the helpers' answers.
      let since = offsets([four]);
      expect(await firstToLog([four], /DEBUG +indirect probe .*node=node-3\b/, since, 15_000)).toBe(four);
      await terminate(four);
      // A helper, waiting for the frozen member's ack to forward (or a nack to send).
      since = offsets([two]);
      expect(await firstToLog([two], /DEBUG +probe for another node /, since, 15_000)).toBe(two);
      await terminate(two);
      // A direct probe: the ack would time out after the socket closed, and a ping-req follow.
      since = offsets([one]);
      expect(await firstToLog([one], /DEBUG +probe .*node=node-3\b/, since, 15_000)).toBe(one);
      await terminate(one);
    } finally {
      frozen.process.kill('SIGCONT');
    }
  }, 90_000);

  it('during a push-pull with a frozen member', async () => {
    // Push-pull every half second: the frozen member is picked before it is even suspected.
    const agents = await startCluster(49, 3, `${SLOW_SUSPICION}\n  push_pull_interval_s: 0.5`);
    const frozen = agents[2]!;
    const others = agents.slice(0, 2);
    let syncing: GossipAgent | undefined;
    // Each node keeps its push-pull partner for 4 rounds (2 s here), and the frozen member is
    // suspected (no longer picked) about a second after it froze: an attempt misses when the two
    // others are partnered with each other until then (one chance in four, by that reckoning; CI
    // once saw 5 misses in a row, under load). 10 attempts.
    for (let attempt = 0; attempt < 10 && !syncing; attempt++) {
      const since = offsets(others);
      frozen.process.kill('SIGSTOP');
      syncing = await firstToLog(others, /DEBUG +push-pull .*node=node-3\b/, since, 2000);
      if (!syncing) {
        // Suspected before anyone synced with it: thaw it, let it refute, try again.
        frozen.process.kill('SIGCONT');
        await waitFor(
          async () => (await Promise.all(others.map(viewOf))).every((view) => view['node-3'] === 'alive'),
          20_000,
          'node-3 alive again',
        );
      }
    }
    expect(syncing, 'no push-pull with the frozen member in 10 attempts').toBeDefined();
    try {
      await terminate(syncing!);
    } finally {
      frozen.process.kill('SIGCONT');
    }
  }, 180_000);
});
