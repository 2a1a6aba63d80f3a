// The SWIM engine on an in-memory network: join, failure detection, refutation, leave, loss. Time
// is the test's (manual timers, memory-cluster.ts): every wait is for a condition within a bound
// of protocol time, and "it did not happen" is checked after running that much protocol time, so
// neither a busy machine nor a fast one changes an outcome. Packet loss is seeded: a failure
// prints the seed that replays it.
import { afterEach, describe, expect, it } from 'vitest';
import { DEFAULT_SEED, FAST, MemoryCluster, SEED } from './memory-cluster.js';

let cluster: MemoryCluster | undefined;
afterEach(() => {
  cluster?.stopAll();
  cluster = undefined;
});

/** Nodes 1..count, every other one joined through node 1, the cluster converged. */
async function formed(current: MemoryCluster, count: number) {
  const nodes = Array.from({ length: count }, (_, index) => current.add(index + 1));
  for (const node of nodes.slice(1)) {
    expect(await current.settle(node.engine.join([SEED]), 5000, 'join')).toBe(1);
  }
  await current.until(() => current.converged(), 5000, `${count} nodes converged`);
  return nodes;
}

/** `count` nodes, not joined, on a cluster of seed DEFAULT_SEED + `offset` whose push-pull waits `pushPullIntervalMs`. */
function unjoined(count: number, pushPullIntervalMs: number, offset = 0) {
  const current = (cluster = new MemoryCluster(
    { ...FAST, pushPullIntervalMs },
    { seed: DEFAULT_SEED + offset },
  ));
  return { current, nodes: Array.from({ length: count }, (_, index) => current.add(index + 1)) };
}

describe('gossip engine', () => {
  it('forms a cluster of 10 through one seed, and everyone sees everyone alive', async () => {
    cluster = new MemoryCluster();
    const [seed] = await formed(cluster, 10);
    expect(seed!.events.filter((event) => event.type === 'node-join')).toHaveLength(9);
  });

  it('marks a silent node suspect then dead everywhere, and it comes back with a higher incarnation', async () => {
    cluster = new MemoryCluster();
    const nodes = await formed(cluster, 6);
    const victim = nodes[5]!.engine.selfMember.record.id;
    cluster.kill(victim);
    const tookMs = await cluster.until(
      () => cluster!.statesOf(victim).every((state) => state === 'dead'),
      10_000,
      'the victim dead everywhere',
    );
    // At most: a pass of probes until one reaches the victim (5 others, 100 ms each), its probe
    // and indirect probe (one period), the longest suspicion at N=6 (6 × 3 × 100 ms), and a few
    // gossip rounds to carry the news (20 ms each).
    expect(tookMs).toBeLessThanOrEqual(5 * 100 + 100 + 6 * 3 * 100 + 5 * 20);
    expect(
      nodes[0]!.events.some((event) => event.type === 'node-suspect' && event.member.record.id === victim),
    ).toBe(true);
    const deadIncarnation = nodes[0]!.engine.table.get(victim)!.incarnation;

    const back = cluster.add(6);
    expect(await cluster.settle(back.engine.join([SEED]), 5000, 'rejoin')).toBe(1);
    await cluster.until(
      () => cluster!.statesOf(victim).every((state) => state === 'alive'),
      5000,
      'the victim alive again everywhere',
    );
    expect(nodes[0]!.engine.table.get(victim)!.incarnation).toBeGreaterThan(deadIncarnation);
  });

  it('a lone node sends nothing, and probes again as soon as a member appears', async () => {
    cluster = new MemoryCluster();
    const seed = cluster.add(1);
    const timersAsked = cluster.timers.delays.length;
    // 50 probe periods alone: the probe loop is parked (no timer wakes it), nothing on the wire.
    await cluster.run(50 * 100);
    expect(seed.engine.probing).toBe(false);
    expect(seed.engine.stats.packetsOut).toBe(0);
    // The only timer that ran: the push-pull's, once per interval (it finds nobody to sync with).
    expect(cluster.timers.delays.slice(timersAsked)).toEqual([FAST.pushPullIntervalMs]);
    const other = cluster.add(2);
    expect(await cluster.settle(other.engine.join([SEED]), 2000, 'join')).toBe(1);
    await cluster.until(() => cluster!.converged(), 2000, 'two nodes converged');
    expect(seed.engine.probing).toBe(true);
    // The seed is the only one left to notice: it must be probing again.
    const id = other.engine.selfMember.record.id;
    cluster.kill(id);
    await cluster.until(() => seed.engine.table.get(id)?.state === 'dead', 5000, 'node 2 dead');
  });

  it('a graceful leave gives `left`, not `dead`', async () => {
    cluster = new MemoryCluster();
    const nodes = await formed(cluster, 4);
    const leaver = nodes[3]!.engine;
    await cluster.settle(leaver.leave(), 5000, 'leave');
    const id = leaver.selfMember.record.id;
    const others = nodes.slice(0, 3);
    await cluster.until(
      () => others.every((node) => node.engine.table.get(id)?.state === 'left'),
      3000,
      'left everywhere',
    );
    // Still left after ten times the longest suspicion (6 × 3 × 100 ms) and past the time news
    // of the dead is gossiped (3 s): nobody turns a left node into dead.
    await cluster.run(10 * 6 * 3 * 100);
    expect(others.map((node) => node.engine.table.get(id)?.state)).toEqual(['left', 'left', 'left']);
    expect(others.flatMap((node) => node.events.filter((event) => event.type === 'node-dead'))).toEqual([]);
  });

  it('spreads a change of a node record (groups) to every node', async () => {
    cluster = new MemoryCluster();
    const nodes = await formed(cluster, 8);
    nodes[4]!.engine.updateSelf({ groups: ['redis', 'linux'] });
    const id = nodes[4]!.engine.selfMember.record.id;
    await cluster.until(
      () => nodes.every((node) => node.engine.table.get(id)?.record.groups.join() === 'redis,linux'),
      3000,
      'the new groups everywhere',
    );
    expect(
      nodes[0]!.events.some((event) => event.type === 'node-update' && event.member.record.id === id),
    ).toBe(true);
  });

  it('keeps 10 nodes alive under 10% packet loss (no false dead)', async () => {
    const current = (cluster = new MemoryCluster(FAST, { dropPercent: 10 }));
    const nodes = Array.from({ length: 10 }, (_, index) => current.add(index + 1));
    // A join ping can be lost too: retry as the agent does with its seeds.
    for (const node of nodes.slice(1)) await current.settle(current.joinWithRetries(node), 20_000, 'join');
    await current
      .until(() => current.converged(), 10_000, '10 nodes converged')
      .catch((error: Error) => {
        const views = nodes.map(
          (node) =>
            `${node.engine.selfMember.record.name}: ${node.engine
              .members()
              .map((member) => `${member.record.name}:${member.state}`)
              .join(' ')}`,
        );
        throw new Error(`${error.message}\n${views.join('\n')}`);
      });
    const [sentBefore, lostBefore] = [current.network.packetsSent, current.network.packetsLost];
    // 20 s at 100 ms periods is 200 protocol periods: as many as 200 s at the default period.
    // Not a guarantee SWIM gives: a refutation can miss one node at this loss, which then declares
    // the refuted node dead when its suspicion runs out. A refuted node also sends its refutation
    // straight to up to 32 members (engine.ts, REFUTATION_FANOUT): a sweep of seeds 1-200 finds a
    // false dead in 3 runs of 200 periods (seeds 52, 76, 109; 6 before the direct sends, 1 with
    // gossip.suspicion_multiplier 4). The default seed is one without: a change to the engine that
    // makes this fail deserves a look at that seed's run first.
    await current.run(20_000);
    const falseDead = nodes.flatMap((node) => node.events.filter((event) => event.type === 'node-dead'));
    expect(falseDead, `seed ${current.seed}`).toEqual([]);
    // The loss was there: at least a probe and its ack per node and period, a tenth of them lost.
    const [sent, lost] = [current.network.packetsSent - sentBefore, current.network.packetsLost - lostBefore];
    expect(sent).toBeGreaterThan(10 * 200 * 2);
    expect(lost / sent).toBeGreaterThan(0.09);
    expect(lost / sent).toBeLessThan(0.11);
    // A suspicion under way at the end must end in a refutation.
    await current.until(() => current.converged(), 5000, 'every suspicion refuted');
  });
});

describe('a node record larger than a packet', () => {
  it('still reaches every node, by push-pull', async () => {
    cluster = new MemoryCluster({ ...FAST, pushPullIntervalMs: 300 });
    const nodes = await formed(cluster, 4);
    // 200 groups with long names: well over the 1400-byte MTU.
    const groups = Array.from({ length: 200 }, (_, index) => `group-with-a-long-name-${index}`);
    nodes[2]!.engine.updateSelf({ groups });
    const id = nodes[2]!.engine.selfMember.record.id;
    await cluster.until(
      () => nodes.every((node) => node.engine.table.get(id)!.record.groups.length === 200),
      5000,
      'the large record everywhere',
    );
  });
});

describe('local health awareness', () => {
  it('does not count a probe answered through others against the prober', async () => {
    cluster = new MemoryCluster();
    const nodes = await formed(cluster, 5);
    // Node 1 and node 2 cannot reach each other directly; everyone else reaches both.
    cluster.network.blockedLinks.add('10.0.0.1->10.0.0.2');
    cluster.network.blockedLinks.add('10.0.0.2->10.0.0.1');
    // 30 probe periods: node 1 probes node 2 about 7 times, each answered indirectly.
    await cluster.run(30 * 100);
    // Answered: neither suspected the other.
    const [one, two] = [nodes[0]!, nodes[1]!];
    const suspected = (by: typeof one, of: typeof one) =>
      by.events.some(
        (event) => event.type === 'node-suspect' && event.member.record.id === of.engine.selfMember.record.id,
      );
    expect([suspected(one, two), suspected(two, one)]).toEqual([false, false]);
    expect(nodes[0]!.engine.localHealth).toBe(0);
    expect(nodes[1]!.engine.localHealth).toBe(0);
    expect(cluster.converged()).toBe(true);
    expect(nodes.flatMap((node) => node.events.filter((event) => event.type === 'node-dead'))).toEqual([]);
  });
});

describe('concurrent joins', () => {
  it.each([1, 2, 3, 4, 5])(
    'converge by gossip alone, without waiting for a push-pull (seed +%i)',
    async (offset) => {
      const { current, nodes } = unjoined(10, 60_000, offset);
      // All nine at once, each retrying until the seed answers, as agents booting together do.
      await current.settle(
        Promise.all(nodes.slice(1).map((node) => current.joinWithRetries(node, { timeoutMs: 300 }))),
        10_000,
        'nine joins',
      );
      await current.until(() => current.converged(), 3000, '10 nodes converged');
    },
  );
});

describe('a member that gossip missed', () => {
  /**
   * Nodes 1..5 know each other (bootstrap); then `index` is added and made known to nodes 1-4
   * without gossip (mergeState with gossip off): node 5 lacks it, as a node does whose copies of
   * a join's news all went elsewhere. Push-pull is an hour away: only the gap repair can close it.
   */
  function missedBy5(current: MemoryCluster, index: number) {
    const added = current.add(index);
    const entry = (node: typeof added) => ({
      record: node.engine.selfMember.record,
      incarnation: node.engine.selfMember.incarnation,
      state: 'alive' as const,
    });
    const others = [...current.nodes.values()].filter(
      (node) => node !== added && node.engine.selfMember.record.name !== 'node-5',
    );
    for (const node of others) node.engine.mergeState([entry(added)], 'test', { gossip: false });
    added.engine.mergeState([...current.nodes.values()].map(entry), 'test', { gossip: false });
    return added.engine.selfMember.record.id;
  }

  it('is learned from a member that counts more, within a few probes, and at most once per 10', async () => {
    const { current, nodes } = unjoined(5, 3_600_000);
    current.bootstrap();
    await current.run(1000);
    const five = nodes[4]!.engine;
    expect(nodes.map((node) => node.engine.stats.repairs)).toEqual([0, 0, 0, 0, 0]);

    const six = missedBy5(current, 6);
    expect(five.table.get(six)).toBeUndefined();
    // Node 5 heard no membership news for a second: the next probe to or from it that carries a
    // larger count starts the push-pull (probes every 100 ms here).
    await current.until(() => five.table.get(six)?.state === 'alive', 500, 'node 6 at node 5');
    expect(five.stats.repairs).toBe(1);
    const repairedAt = current.timers.now;

    // A second gap at once: the next repair waits for 10 probe intervals (1 s here) after the first.
    const seven = missedBy5(current, 7);
    await current.run(repairedAt + 900 - current.timers.now);
    expect(five.table.get(seven)).toBeUndefined();
    expect(five.stats.repairs).toBe(1);
    await current.until(() => five.table.get(seven)?.state === 'alive', 1000, 'node 7 at node 5');
    expect(five.stats.repairs).toBe(2);
  });

  it.each(Array.from({ length: 10 }, (_, offset) => offset))(
    'a formation of 50, four joins at a time, converges without a periodic push-pull (seed +%i)',
    async (offset) => {
      const { current, nodes } = unjoined(50, 3_600_000, offset);
      const joiners = nodes.slice(1);
      // As the gossip bench joins agents: four at a time, the next four a moment later.
      const joins = (async () => {
        for (let at = 0; at < joiners.length; at += 4) {
          const four = joiners.slice(at, at + 4);
          await Promise.all(four.map((node) => current.joinWithRetries(node, { timeoutMs: 300 })));
          await new Promise<void>((resolve) => current.timers.setTimeout(resolve, 5));
        }
      })();
      await current.settle(joins, 60_000, '49 joins');
      // Without the repair, 2 of these 10 seeds (4 of the first 20) leave a node short of a
      // member until a push-pull. Gossip alone takes ~150 ms here; a repair ~2 probes more.
      await current.until(() => current.converged(), 1000, '50 nodes converged');
    },
  );

  it('costs nothing while every node counts the same', async () => {
    const current = (cluster = new MemoryCluster({ ...FAST, pushPullIntervalMs: 3_600_000 }));
    const nodes = await formed(current, 8);
    const before = nodes.map((node) => node.engine.stats.repairs);
    await current.run(10_000);
    expect(nodes.map((node) => node.engine.stats.repairs)).toEqual(before);
  });
});
