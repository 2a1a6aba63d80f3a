// Issue 12's acceptance: a check going CRITICAL on one node of a 5-node cluster is seen by
// `opsbro checks list --all` on every node within the gossip bound. Real agents on 127.63.0.1-5,
// each with the same evaluated check, CRITICAL when its own marker file exists.
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, it } from 'vitest';
import type { NodeCheckTable } from '../../agent/shared/api-types.js';
import { cleanupAll, runCli, tempDir } from '../helpers/agent-process.js';
import { type GossipAgent, startGossipAgent, viewOf, waitFor } from '../helpers/gossip-agents.js';

afterAll(cleanupAll);

const BLOCK = 63;
const SIZE = 5;
/**
 * What the spread may take: a delta rides the next gossip rounds (200 ms each) to every node of
 * five, a missed one is fetched after 1 s; the check itself runs every second.
 */
const GOSSIP_BOUND_MS = 10_000;

function markerCheck(marker: string): string {
  return [
    'check:',
    '  name: marker',
    '  interval: 1s',
    '  max_attempts: 1',
    `  critical_if: "file_exists('${marker}')"`,
    '  critical_output: "\'the marker is there\'"',
    '  ok_output: "\'no marker\'"',
  ].join('\n');
}

/** node -> state of its `marker` check, as `agent` lists every node's (`checks list --all --json`). */
function markersSeenBy(agent: GossipAgent): Record<string, string> {
  const listed = runCli(['checks', 'list', '--all', '--json', '--api', agent.api]);
  if (listed.code !== 0) throw new Error(`checks list --all: ${listed.stderr}`);
  const tables = JSON.parse(listed.stdout) as NodeCheckTable[];
  return sorted(
    Object.fromEntries(
      tables.map((table) => [
        table.node,
        table.checks.find((brief) => brief.name === 'marker')?.state ?? 'missing',
      ]),
    ),
  );
}

describe('check state cluster-wide', () => {
  it(`a check going CRITICAL on one of ${SIZE} nodes is listed by every node within the bound`, async () => {
    const key = randomBytes(32).toString('base64');
    const markers = tempDir();
    const markerOf = (index: number) => join(markers, `node-${index}`);
    const start = (index: number) =>
      startGossipAgent(BLOCK, index, {
        key,
        seeds: index === 1 ? undefined : [`127.${BLOCK}.0.1`],
        yaml: markerCheck(markerOf(index)),
      });
    const agents: GossipAgent[] = [await start(1)];
    agents.push(...(await Promise.all([2, 3, 4, 5].map(start))));
    const allOk = Object.fromEntries(agents.map((agent) => [agent.name, 'ok']));
    await waitFor(
      async () => {
        for (const agent of agents) {
          const view = await viewOf(agent);
          if (Object.values(view).filter((state) => state === 'alive').length !== SIZE) return false;
        }
        return agents.every(
          (agent) => JSON.stringify(markersSeenBy(agent)) === JSON.stringify(sorted(allOk)),
        );
      },
      30_000,
      'every node lists every node with its marker check OK',
    );

    writeFileSync(markerOf(3), '');
    const expected = sorted({ ...allOk, 'node-3': 'critical' });
    const tookMs = await waitFor(
      () =>
        Promise.resolve(
          agents.every((agent) => JSON.stringify(markersSeenBy(agent)) === JSON.stringify(expected)),
        ),
      GOSSIP_BOUND_MS,
      'every node lists node-3 CRITICAL and the others OK',
    );
    console.log(`node-3 CRITICAL seen by all ${SIZE} nodes after ${tookMs} ms`);
  }, 90_000);
});

function sorted(states: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(states).sort(([a], [b]) => a.localeCompare(b)));
}
