// The SWIM engine on an in-memory network: join, failure detection, refutation, leave, loss.
import { afterEach, describe, expect, it } from 'vitest';
import { FAST, MemoryCluster } from './memory-cluster.js';

let cluster: MemoryCluster | undefined;
afterEach(() => cluster?.stopAll());

async function until(check: () => boolean, timeoutMs: number): Promise<number> {
  const start = Date.now();
  while (!check()) {
    if (Date.now() - start > timeoutMs) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return Date.now() - start;
}

describe('gossip engine', () => {
  it('forms a cluster of 10 through one seed, and everyone sees everyone alive', async () => {
    cluster = new MemoryCluster();
    const seed = cluster.add(1);
    for (let index = 2; index <= 10; index++) {
      const node = cluster.add(index);
      expect(await node.engine.join([{ address: '10.0.0.1', port: 6768 }])).toBe(1);
    }
    await until(() => cluster!.converged(), 5000);
    expect(seed.events.filter((event) => event.type === 'node-join')).toHaveLength(9);
  });

  it('marks a silent node suspect then dead everywhere, and it comes back with a higher incarnation', async () => {
    cluster = new MemoryCluster();
    const nodes = Array.from({ length: 6 }, (_, index) => cluster!.add(index + 1));
    for (const node of nodes.slice(1)) await node.engine.join([{ address: '10.0.0.1', port: 6768 }]);
    await until(() => cluster!.converged(), 5000);
    const victim = nodes[5]!.engine.selfMember.record.id;
    cluster.kill(victim);
    const tookMs = await until(() => cluster!.statesOf(victim).every((state) => state === 'dead'), 10_000);
    // Suspicion min timeout at N=6: 3 * log10(6)→1 * 100 ms; plus probing: well under 5 s here.
    expect(tookMs).toBeLessThan(5000);
    expect(
      nodes[0]!.events.some((event) => event.type === 'node-suspect' && event.member.record.id === victim),
    ).toBe(true);
    const deadIncarnation = nodes[0]!.engine.table.get(victim)!.incarnation;

    const back = cluster.add(6);
    await back.engine.join([{ address: '10.0.0.1', port: 6768 }]);
    await until(() => cluster!.statesOf(victim).every((state) => state === 'alive'), 5000);
    expect(nodes[0]!.engine.table.get(victim)!.incarnation).toBeGreaterThan(deadIncarnation);
  });

  it('a lone node sends nothing, and probes again as soon as a member appears', async () => {
    cluster = new MemoryCluster();
    const seed = cluster.add(1);
    // 5 probe periods alone: the probe loop is parked (no timer wakes it), nothing on the wire.
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(seed.engine.probing).toBe(false);
    expect(seed.engine.stats.packetsOut).toBe(0);
    const other = cluster.add(2);
    expect(await other.engine.join([{ address: '10.0.0.1', port: 6768 }])).toBe(1);
    await until(() => cluster!.converged(), 2000);
    expect(seed.engine.probing).toBe(true);
    // The seed is the only one left to notice: it must be probing again.
    const id = other.engine.selfMember.record.id;
    cluster.kill(id);
    await until(() => seed.engine.table.get(id)?.state === 'dead', 5000);
  });

  it('a graceful leave gives `left`, not `dead`', async () => {
    cluster = new MemoryCluster();
    const nodes = Array.from({ length: 4 }, (_, index) => cluster!.add(index + 1));
    for (const node of nodes.slice(1)) await node.engine.join([{ address: '10.0.0.1', port: 6768 }]);
    await until(() => cluster!.converged(), 5000);
    const leaver = nodes[3]!.engine;
    await leaver.leave();
    const id = leaver.selfMember.record.id;
    await until(() => nodes.slice(0, 3).every((node) => node.engine.table.get(id)?.state === 'left'), 3000);
    // Still left a while later: nobody turns a left node into dead.
    await new Promise((resolve) => setTimeout(resolve, 1000));
    expect(nodes.slice(0, 3).map((node) => node.engine.table.get(id)?.state)).toEqual([
      'left',
      'left',
      'left',
    ]);
  });

  it('spreads a change of a node record (groups) to every node', async () => {
    cluster = new MemoryCluster();
    const nodes = Array.from({ length: 8 }, (_, index) => cluster!.add(index + 1));
    for (const node of nodes.slice(1)) await node.engine.join([{ address: '10.0.0.1', port: 6768 }]);
    await until(() => cluster!.converged(), 5000);
    nodes[4]!.engine.updateSelf({ groups: ['redis', 'linux'] });
    const id = nodes[4]!.engine.selfMember.record.id;
    await until(
      () => nodes.every((node) => node.engine.table.get(id)?.record.groups.join() === 'redis,linux'),
      3000,
    );
    expect(
      nodes[0]!.events.some((event) => event.type === 'node-update' && event.member.record.id === id),
    ).toBe(true);
  });

  it('keeps 10 nodes alive under 10% packet loss (no false dead)', async () => {
    cluster = new MemoryCluster(FAST, 10);
    const nodes = Array.from({ length: 10 }, (_, index) => cluster!.add(index + 1));
    // A join ping can be lost too: retry as the agent does with its seeds.
    for (const node of nodes.slice(1)) {
      while ((await node.engine.join([{ address: '10.0.0.1', port: 6768 }], 500)) === 0);
    }
    try {
      await until(() => cluster!.converged(), 10_000);
    } catch (error) {
      for (const node of nodes) {
        console.log(
          node.engine.selfMember.record.name,
          node.engine
            .members()
            .map((m) => `${m.record.name}:${m.state}`)
            .join(' '),
        );
      }
      throw error;
    }
    // 20 s at 100 ms periods is 200 protocol periods: as many as 200 s at the default period.
    await new Promise((resolve) => setTimeout(resolve, 20_000));
    const falseDead = nodes.flatMap((node) => node.events.filter((event) => event.type === 'node-dead'));
    expect(falseDead).toEqual([]);
    expect(cluster.converged()).toBe(true);
  }, 40_000);
});

describe('a node record larger than a packet', () => {
  it('still reaches every node, by push-pull', async () => {
    cluster = new MemoryCluster({ ...FAST, pushPullIntervalMs: 300 });
    const nodes = Array.from({ length: 4 }, (_, index) => cluster!.add(index + 1));
    for (const node of nodes.slice(1)) await node.engine.join([{ address: '10.0.0.1', port: 6768 }]);
    await until(() => cluster!.converged(), 5000);
    // 200 checks with long names: well over the 1400-byte MTU.
    const checks = Object.fromEntries(
      Array.from({ length: 200 }, (_, index) => [`check-with-a-long-name-${index}`, 'ok']),
    );
    nodes[2]!.engine.updateSelf({ checks });
    const id = nodes[2]!.engine.selfMember.record.id;
    await until(
      () => nodes.every((node) => Object.keys(node.engine.table.get(id)!.record.checks).length === 200),
      5000,
    );
  });
});

describe('local health awareness', () => {
  it('does not count a probe answered through others against the prober', async () => {
    cluster = new MemoryCluster();
    const nodes = Array.from({ length: 5 }, (_, index) => cluster!.add(index + 1));
    for (const node of nodes.slice(1)) await node.engine.join([{ address: '10.0.0.1', port: 6768 }]);
    await until(() => cluster!.converged(), 5000);
    // Node 1 and node 2 cannot reach each other directly; everyone else reaches both.
    cluster.network.blockedLinks.add('10.0.0.1->10.0.0.2');
    cluster.network.blockedLinks.add('10.0.0.2->10.0.0.1');
    // 3 s is 30 probe periods: node 1 probes node 2 about 7 times, each answered indirectly.
    await new Promise((resolve) => setTimeout(resolve, 3000));
    expect(nodes[0]!.engine.localHealth).toBe(0);
    expect(nodes[1]!.engine.localHealth).toBe(0);
    expect(cluster.converged()).toBe(true);
    expect(nodes.flatMap((node) => node.events.filter((event) => event.type === 'node-dead'))).toEqual([]);
  });
});

describe('concurrent joins', () => {
  it('converge by gossip alone, without waiting for a push-pull', async () => {
    for (let attempt = 0; attempt < 5; attempt++) {
      cluster = new MemoryCluster({ ...FAST, pushPullIntervalMs: 60_000 });
      const nodes = Array.from({ length: 10 }, (_, index) => cluster!.add(index + 1));
      // All nine at once, each retrying until the seed answers, as agents booting together do.
      await Promise.all(
        nodes.slice(1).map(async (node) => {
          while ((await node.engine.join([{ address: '10.0.0.1', port: 6768 }], 300)) === 0);
        }),
      );
      await until(() => cluster!.converged(), 3000);
      cluster.stopAll();
    }
  });
});
