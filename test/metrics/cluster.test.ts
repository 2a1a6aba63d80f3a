// Metrics queries across a cluster of real agents: a render or a find on any node includes the
// series the other nodes hold (over the cluster RPC), series of the same name from several nodes
// merge, `local=1` keeps to the node asked, and a node that is gone only drops its own series.
import { connect } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { cleanupAll, httpGet } from '../helpers/agent-process.js';
import { type GossipAgent, startCluster, waitFor } from '../helpers/gossip-agents.js';

const BLOCK = 74;

afterAll(cleanupAll);

async function getJson<T>(agent: GossipAgent, path: string): Promise<T> {
  const reply = await httpGet(`${agent.api}${path}`);
  if (reply.status !== 200) throw new Error(`${path} on ${agent.name}: ${reply.status} ${reply.body}`);
  return JSON.parse(reply.body) as T;
}

async function sendGraphite(agent: GossipAgent, text: string): Promise<void> {
  const { ports } = await getJson<{ ports: { graphite: number } }>(agent, '/agent/info');
  await new Promise<void>((resolve, reject) => {
    const socket = connect(ports.graphite, agent.address, () => socket.end(text));
    socket.on('close', () => resolve());
    socket.on('error', reject);
  });
}

type Rendered = Array<{ target: string; datapoints: Array<[number | null, number]> }>;
const known = (series: Rendered[number]) => series.datapoints.filter(([value]) => value !== null);

describe('metrics across a cluster', () => {
  it("renders and finds every node's series from any node", async () => {
    const agents = await startCluster(BLOCK, 3);
    const now = Math.floor(Date.now() / 1000);
    const slot = now - (now % 10) - 60;
    await sendGraphite(agents[0]!, `app.one 1 ${slot}\nshared.total 10 ${slot}\n`);
    await sendGraphite(agents[1]!, `app.two 2 ${slot}\nshared.total 20 ${slot + 10}\n`);
    for (const agent of agents.slice(0, 2))
      await waitFor(
        async () =>
          (await getJson<{ graphite: { lines: number } }>(agent, '/agent/metrics/stats')).graphite.lines ===
          2,
        5_000,
        `lines stored on ${agent.name}`,
      );

    // From the third node, which holds nothing.
    const third = agents[2]!;
    const rendered = await getJson<Rendered>(
      third,
      '/render?target=app.*&target=shared.total&from=-5min&format=json',
    );
    expect(rendered.map((series) => series.target)).toEqual(['app.one', 'app.two', 'shared.total']);
    expect(known(rendered[0]!)).toEqual([[1, slot]]);
    expect(known(rendered[1]!)).toEqual([[2, slot]]);
    // The same name on two nodes: one series, each slot from whichever node has it.
    expect(known(rendered[2]!)).toEqual([
      [10, slot],
      [20, slot + 10],
    ]);
    const tree = await getJson<Array<{ id: string }>>(third, '/metrics/find?query=*');
    expect(tree.map((node) => node.id)).toEqual(['app', 'shared']);
    expect(await getJson<unknown[]>(third, '/metrics/find?query=*&local=1')).toEqual([]);
    expect(await getJson<unknown[]>(third, '/render?target=app.*&from=-5min&local=1')).toEqual([]);

    // The second node gone: its series go with it, the rest still answers.
    agents[1]!.process.kill('SIGKILL');
    await agents[1]!.exited;
    const after = await getJson<Rendered>(third, '/render?target=app.*&from=-5min&format=json');
    expect(after.map((series) => series.target)).toEqual(['app.one']);
  });
});
