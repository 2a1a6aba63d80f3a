// Ten agents as processes, each dropping 10% of the gossip packets it sends (a test preload,
// test/helpers/lossy-udp.mjs), watched for two minutes: nobody may be declared dead. SWIM's
// indirect probes and Lifeguard's refutation are what make this hold.
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { cleanupAll, REPO_ROOT } from '../helpers/agent-process.js';
import { type GossipAgent, startGossipAgent, viewOf, waitFor } from '../helpers/gossip-agents.js';

afterAll(cleanupAll);

const BLOCK = 22;
const SIZE = 10;
const WATCH_MS = 120_000;
const LOSSY = {
  NODE_OPTIONS: `--import=${pathToFileURL(join(REPO_ROOT, 'test', 'helpers', 'lossy-udp.mjs')).href}`,
  OPSBRO_TEST_UDP_DROP_PERCENT: '10',
};

/** The agent's view; if it does not answer, why: its exit and the end of its output. */
async function viewOrWhy(agent: GossipAgent): Promise<Record<string, string>> {
  try {
    return await viewOf(agent);
  } catch (error) {
    const exit = agent.process.exitCode ?? agent.process.signalCode ?? 'still running';
    throw new Error(
      `${agent.name} does not answer (${String(error)}); process: ${exit}; last output:\n${agent.output().split('\n').slice(-15).join('\n')}`,
      { cause: error },
    );
  }
}

describe('10% packet loss', () => {
  it(
    `keeps ${SIZE} agents alive for ${WATCH_MS / 1000} s: no false dead`,
    async () => {
      const agents: GossipAgent[] = [await startGossipAgent(BLOCK, 1, { env: LOSSY })];
      for (let index = 2; index <= SIZE; index++) {
        agents.push(await startGossipAgent(BLOCK, index, { env: LOSSY, seeds: ['127.22.0.1'] }));
      }
      const allAlive = async () =>
        (await Promise.all(agents.map(viewOf))).every(
          (view) => Object.values(view).filter((state) => state === 'alive').length === SIZE,
        );
      await waitFor(allAlive, 30_000, `${SIZE} alive everywhere`);

      const started = Date.now();
      let suspicions = 0;
      while (Date.now() - started < WATCH_MS) {
        const views = await Promise.all(agents.map(viewOrWhy));
        for (const view of views) {
          expect(Object.entries(view).filter(([, state]) => state === 'dead' || state === 'left')).toEqual(
            [],
          );
          suspicions += Object.values(view).filter((state) => state === 'suspect').length;
        }
        await new Promise((resolve) => setTimeout(resolve, 1000));
      }
      // A suspicion may be in flight at the last poll: it must end in a refutation (alive), within
      // the longest suspicion timeout (6 x 3 s at 10 members), not in a death.
      await waitFor(allAlive, 20_000, `${SIZE} alive everywhere after the watch`);
      const deadLines = agents.flatMap((agent) =>
        agent
          .output()
          .split('\n')
          .filter((line) => line.includes('node-dead')),
      );
      expect(deadLines).toEqual([]);
      // How much the loss shows (not asserted: a quiet run may see no suspicion at all).
      const suspectLines = agents.flatMap((agent) =>
        agent
          .output()
          .split('\n')
          .filter((line) => line.includes('node-suspect')),
      );
      console.log(
        `10% loss, ${SIZE} agents, ${WATCH_MS / 1000} s: ${suspectLines.length} suspicions logged, ${suspicions} suspect sightings in polls, 0 dead`,
      );
    },
    WATCH_MS + 90_000,
  );
});
