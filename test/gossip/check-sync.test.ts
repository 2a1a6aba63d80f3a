// Check state cluster-wide on the in-memory network, on manual time: deltas spread a change to
// every node without a fetch; a gap waits for the missing delta, then fetches; fetches are spaced,
// retried with backoff and bounded; a node without checks costs nothing; tables follow membership.
// "It did not happen" is proved by running protocol time past the moment, never by sleeping.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { CHECK_BRIEF_OUTPUT_BYTES } from '../../agent/shared/api-types.js';
import { type CheckDelta, decodeTablesAnswer, encodeTablesRequest } from '../../agent/gossip/check-codec.js';
import { localSummary } from '../../agent/gossip/check-sync.js';
import { WIRE_VERSION } from '../../agent/gossip/codec.js';
import { brief, CHECK_TIMINGS, CheckCluster, type CheckNode } from './check-memory-cluster.js';
import { DEFAULT_SEED } from './memory-cluster.js';

let cluster: CheckCluster | undefined;
afterEach(() => {
  cluster?.stop();
  cluster = undefined;
});

const threeChecks = () => [brief('cpu'), brief('disk'), brief('load')];

/** Forms `count` nodes with three checks each, and waits until every node holds every table. */
async function formed(count: number): Promise<CheckNode[]> {
  cluster = new CheckCluster();
  const nodes = await cluster.form(count, threeChecks);
  await cluster.until(
    () => nodes.every((node) => cluster!.everywhere(node)),
    10_000,
    'every table everywhere',
  );
  return nodes;
}

/**
 * Forms 9 nodes with three checks each (fetches taking 200 ms), then joins a 10th through node 1
 * and waits until it holds every table.
 */
async function lateJoiner(relay: boolean): Promise<{ nodes: CheckNode[]; late: CheckNode }> {
  cluster = new CheckCluster(DEFAULT_SEED, relay);
  cluster.fetchLatencyMs = 200;
  const nodes = await cluster.form(9, threeChecks);
  await cluster.until(
    () => nodes.every((node) => cluster!.everywhere(node)),
    20_000,
    'every table everywhere',
  );
  const late = cluster.add(10, threeChecks());
  await cluster.join(late);
  await cluster.until(
    () => nodes.every((node) => cluster!.everywhere(node, [node, late])),
    20_000,
    'the late node holds every table',
  );
  return { nodes, late };
}

/** A change of node 1's table that every node but node 2 hears of (node 2 drops deltas until the test stops it). */
async function missedBySecond(nodes: CheckNode[]): Promise<void> {
  const [first, second] = nodes;
  second!.dropDeltas = true;
  cluster!.change(first!, { changed: [brief('cpu', 'critical')] });
  await cluster!.until(
    () => cluster!.everywhere(first!, [first!, ...nodes.slice(2)]),
    5000,
    'the others have it',
  );
}

/** The deltas `node` gossips from now on. */
function deltasOf(node: CheckNode): CheckDelta[] {
  const sent: CheckDelta[] = [];
  const broadcast = node.engine.broadcastCheckDelta.bind(node.engine);
  vi.spyOn(node.engine, 'broadcastCheckDelta').mockImplementation((delta) => {
    sent.push(delta);
    broadcast(delta);
  });
  return sent;
}

describe('check deltas', () => {
  it('spread a change to every node, without a fetch, and update its summary everywhere', async () => {
    const nodes = await formed(5);
    const fetchesBefore = cluster!.fetches();
    const [, , third] = nodes;
    cluster!.change(third!, { changed: [brief('cpu', 'critical', 'CPU at 99%')] });
    const tookMs = await cluster!.until(() => cluster!.everywhere(third!), 5000, 'the change everywhere');
    // The coalescing delay, then a few gossip rounds (20 ms each here).
    expect(tookMs).toBeLessThan(1000);
    expect(cluster!.fetches()).toBe(fetchesBefore);
    for (const node of nodes) {
      expect(node.engine.table.get(third!.id)!.record.checks).toMatchObject({
        version: third!.table.version,
        ok: 2,
        critical: 1,
      });
    }
    // A removal and an override travel the same way.
    cluster!.change(third!, {
      removed: ['load'],
      override: { state: 'critical', reason: 'maintenance', since: '2024-06-11T10:00:00.000Z' },
    });
    await cluster!.until(() => cluster!.everywhere(third!), 5000, 'the removal and override everywhere');
    cluster!.change(third!, { override: null });
    await cluster!.until(() => cluster!.everywhere(third!), 5000, 'the override cleared everywhere');
    expect(cluster!.fetches()).toBe(fetchesBefore);
  });

  it('go out as one delta for changes close together, spanning their versions', async () => {
    const nodes = await formed(3);
    const sent = deltasOf(nodes[0]!);
    const before = nodes[0]!.table.version;
    cluster!.change(nodes[0]!, { changed: [brief('cpu', 'warning')] });
    cluster!.change(nodes[0]!, { changed: [brief('disk', 'critical')] });
    cluster!.change(nodes[0]!, { changed: [brief('cpu', 'ok')] });
    await cluster!.until(() => cluster!.everywhere(nodes[0]!), 5000, 'the changes everywhere');
    expect(sent).toHaveLength(1);
    expect(sent[0]).toMatchObject({ span: 3, complete: true, summary: { version: before + 3 } });
    // The later state of cpu won.
    expect(sent[0]!.changed.map((one) => [one.name, one.state])).toEqual([
      ['cpu', 'ok'],
      ['disk', 'critical'],
    ]);
    expect(nodes[0]!.engine.selfMember.record.checks).toEqual(
      localSummary(nodes[0]!.table, nodes[0]!.engine.selfMember.record.checks.epoch),
    );
  });

  it('too large for a packet become "the version bumped", and every node fetches the table', async () => {
    const nodes = await formed(4);
    const sent = deltasOf(nodes[1]!);
    const fetchesBefore = cluster!.fetches();
    const many = Array.from({ length: 40 }, (_, index) =>
      brief(`check-${index}`, 'warning', 'w'.repeat(CHECK_BRIEF_OUTPUT_BYTES)),
    );
    cluster!.change(nodes[1]!, { changed: many });
    await cluster!.until(() => cluster!.everywhere(nodes[1]!), 5000, 'the large change everywhere');
    expect(sent).toEqual([expect.objectContaining({ complete: false, changed: [], removed: [] })]);
    expect(cluster!.fetches() - fetchesBefore).toBe(3);
    expect(nodes[1]!.served).toBeGreaterThanOrEqual(3);
  });

  it('carry the changes of the last seconds again: a node that missed one is caught up by the next, without a fetch', async () => {
    const nodes = await formed(4);
    const [first, second] = nodes;
    const sent = deltasOf(first!);
    const before = first!.table.version;
    await missedBySecond(nodes);
    expect(second!.sync.checkTables().find((table) => table.node_id === first!.id)!.version).toBe(before);
    const fetchesBefore = cluster!.fetches();
    second!.dropDeltas = false;
    // Within recentChangeMs of the first: the next delta spans both versions and carries cpu again.
    cluster!.change(first!, { changed: [brief('disk', 'warning')] });
    await cluster!.until(() => cluster!.everywhere(first!), 5000, 'the table everywhere');
    expect(sent.map((delta) => [delta.span, delta.changed.map((one) => one.name)])).toEqual([
      [1, ['cpu']],
      [2, ['cpu', 'disk']],
    ]);
    // The others held the first version already: the second applies on it as well.
    await cluster!.run(CHECK_TIMINGS.graceMs! * 4);
    expect(cluster!.fetches()).toBe(fetchesBefore);
    // Past recentChangeMs, a change goes out alone.
    await cluster!.run(CHECK_TIMINGS.recentChangeMs!);
    cluster!.change(first!, { changed: [brief('load', 'critical')] });
    await cluster!.until(() => cluster!.everywhere(first!), 5000, 'the third change everywhere');
    expect(sent.at(-1)).toMatchObject({ span: 1, changed: [expect.objectContaining({ name: 'load' })] });
  });

  it('missed by a node, past what later deltas carry, are repaired by a fetch after the grace period, not before', async () => {
    const nodes = await formed(4);
    const [first, second] = nodes;
    await missedBySecond(nodes);
    // Long after (past recentChangeMs): the node that missed it still has the old version
    // (nothing told it yet), and the next delta no longer carries it.
    await cluster!.run(CHECK_TIMINGS.recentChangeMs!);
    expect(second!.sync.checkTables().find((table) => table.node_id === first!.id)!.version).toBe(
      first!.table.version - 1,
    );
    const fetchesBefore = second!.fetchesAt.length;
    second!.dropDeltas = false;
    cluster!.change(first!, { changed: [brief('disk', 'warning')] });
    // The next delta shows the gap: the fetch waits out the grace period (the missing delta may
    // still come), then repairs both versions at once.
    const seenAt = cluster!.timers.now;
    await cluster!.until(() => second!.fetchesAt.length > fetchesBefore, 5000, 'the fetch');
    expect(second!.fetchesAt.at(-1)! - seenAt).toBeGreaterThanOrEqual(CHECK_TIMINGS.graceMs!);
    await cluster!.until(() => cluster!.everywhere(first!), 5000, 'the repaired table');
    expect(second!.sync.stats().deltasWaiting).toBeGreaterThanOrEqual(1);
  });

  it('arriving out of order apply in order, without a fetch', async () => {
    const nodes = await formed(3);
    const [first, second] = nodes;
    const sent = deltasOf(first!);
    // Node 2 hears nothing of node 1's deltas by gossip: the test hands them over, in reverse.
    second!.dropDeltas = true;
    cluster!.change(first!, { changed: [brief('cpu', 'critical')] });
    // Past recentChangeMs: the second delta spans its own version only.
    await cluster!.run(CHECK_TIMINGS.recentChangeMs! + 10);
    cluster!.change(first!, { changed: [brief('disk', 'warning')] });
    await cluster!.run(CHECK_TIMINGS.coalesceMs! + 10);
    expect(sent.map((delta) => delta.span)).toEqual([1, 1]);
    const fetchesBefore = second!.fetchesAt.length;
    expect(second!.sync.onDelta(sent[1]!)).toBe(true);
    await cluster!.run(CHECK_TIMINGS.graceMs! / 2);
    expect(second!.sync.onDelta(sent[0]!)).toBe(true);
    // Heard again: not news, not relayed.
    expect(second!.sync.onDelta(sent[0]!)).toBe(false);
    expect(cluster!.everywhere(first!, [first!, second!])).toBe(true);
    await cluster!.run(CHECK_TIMINGS.graceMs! * 4);
    expect(second!.fetchesAt.length).toBe(fetchesBefore);
  });

  it('about this node itself, or about a node not a member, are neither applied nor relayed', async () => {
    const nodes = await formed(2);
    const forged: CheckDelta = {
      nodeId: nodes[0]!.id,
      span: 1,
      summary: { ...nodes[0]!.engine.selfMember.record.checks, version: nodes[0]!.table.version + 1 },
      complete: true,
      changed: [brief('cpu', 'critical')],
      removed: [],
    };
    expect(nodes[0]!.sync.onDelta(forged)).toBe(false);
    expect(nodes[1]!.sync.onDelta({ ...forged, nodeId: 'not-a-member' })).toBe(false);
    expect(nodes[1]!.sync.checkTables().map((table) => table.node_id)).not.toContain('not-a-member');
  });
  it('forged far ahead cost a fetch or two, not one every interval, and the table stays as its node says', async () => {
    const nodes = await formed(3);
    const [first] = nodes;
    const real = first!.engine.selfMember.record.checks;
    // A key holder announces node 1 at a version far ahead, in its epoch and in a later one, to
    // node 2, which relays it: node 3 hears it too.
    for (const summary of [
      { ...real, version: real.version + 1000 },
      { ...real, epoch: real.epoch + 100_000, version: 5 },
    ]) {
      const fetchesBefore = cluster!.fetches();
      const forged: CheckDelta = {
        nodeId: first!.id,
        span: 1,
        summary,
        complete: true,
        changed: [brief('cpu', 'critical', 'forged')],
        removed: [],
      };
      expect(nodes[1]!.sync.onDelta(forged)).toBe(true);
      await cluster!.until(() => cluster!.fetches() > fetchesBefore, 5000, 'a fetch');
      // Push-pull may carry the forged summary to a node that fetched already: a second fetch at
      // most, and then none (one push-pull interval is 3 s here).
      await cluster!.run(15_000);
      const settled = cluster!.fetches();
      expect(settled - fetchesBefore).toBeLessThanOrEqual(4);
      await cluster!.run(15_000);
      expect(cluster!.fetches()).toBe(settled);
      expect(cluster!.everywhere(first!)).toBe(true);
      for (const node of nodes) expect(node.engine.table.get(first!.id)!.record.checks).toEqual(real);
    }
    // Node 1's next real change still applies everywhere by its delta.
    const fetchesBefore = cluster!.fetches();
    cluster!.change(first!, { changed: [brief('load', 'critical')] });
    await cluster!.until(() => cluster!.everywhere(first!), 5000, 'the next change everywhere');
    expect(cluster!.fetches()).toBe(fetchesBefore);
  });
});

describe('check table fetches', () => {
  it('cost nothing for a node without checks', async () => {
    cluster = new CheckCluster();
    await cluster.form(4, (index) => (index === 2 ? threeChecks() : undefined));
    const withChecks = cluster.nodes.get(2)!;
    await cluster.until(() => cluster!.everywhere(withChecks), 5000, "node 2's table everywhere");
    // Three fetches in all: each other node of node 2's table, none of the tables without checks.
    expect(cluster.fetches()).toBe(3);
    for (const node of cluster.nodes.values()) {
      const empty = node.sync.checkTables().filter((table) => table.checks.length === 0);
      expect(empty).toHaveLength(node === withChecks ? 3 : 2);
    }
  });

  it('of one node start at most once per interval, and back off while they fail', async () => {
    const nodes = await formed(3);
    const [first, second] = nodes;
    second!.refuseFetches = true;
    const fetchesBefore = second!.fetchesAt.length;
    // A version-only delta: node 2 fetches at once, and again and again while fetches fail.
    second!.dropDeltas = true;
    cluster!.change(first!, {
      changed: Array.from({ length: 40 }, (_, index) => brief(`c${index}`, 'warning', 'w'.repeat(250))),
    });
    await cluster!.run(CHECK_TIMINGS.coalesceMs! + 10);
    second!.dropDeltas = false;
    cluster!.change(first!, {
      changed: Array.from({ length: 40 }, (_, index) => brief(`c${index}`, 'ok', 'o'.repeat(250))),
    });
    await cluster!.until(() => second!.fetchesAt.length >= fetchesBefore + 5, 60_000, 'five failed fetches');
    const gaps = second!.fetchesAt
      .slice(fetchesBefore)
      .map((at, index, all) => (index ? at - all[index - 1]! : 0))
      .slice(1);
    // 1 s, 2 s, 4 s, 8 s (the maximum here), each after a fetch of 10 ms.
    expect(gaps.map((gap) => Math.round(gap / 100) * 100)).toEqual([1000, 2000, 4000, 8000]);
    second!.refuseFetches = false;
    await cluster!.until(() => cluster!.everywhere(first!), 20_000, 'the table, once fetches work');
  });

  it('run a few at a time when a node joins a cluster of tables', async () => {
    const { late } = await lateJoiner(false);
    expect(late.fetchesAt).toHaveLength(9);
    expect(late.maxFetchesInFlight).toBe(CHECK_TIMINGS.maxConcurrent);
    // And every node gets the late node's table.
    await cluster!.until(() => cluster!.everywhere(late), 10_000, "the late node's table everywhere");
  });
});

describe('check tables through a connected member (relay)', () => {
  it('reach a joining node from its seed: one connection, no fetch from any other node', async () => {
    const { nodes, late } = await lateJoiner(true);
    const seed = nodes[0]!;
    const fetchedFromLate = () =>
      nodes.flatMap((node) => node.fetchedFrom).filter((nodeId) => nodeId === late.id).length;
    // Without the relay it fetched 9 tables from 9 nodes (the test above): now the seed's own,
    // over the connection its join opened, and the other 8 in relay requests to the seed.
    expect(late.fetchedFrom.filter((nodeId) => nodeId !== seed.id)).toEqual([]);
    expect(late.relays).toBeGreaterThanOrEqual(1);
    expect([...late.connected]).toEqual([seed.id]);
    // And every node gets the late node's table: the seed from it, the others from the seed.
    await cluster!.until(() => cluster!.everywhere(late), 10_000, "the late node's table everywhere");
    expect(fetchedFromLate()).toBe(1);
    expect(seed.fetchedFrom.at(-1)).toBe(late.id);
  });

  it('answer only the tables newer than those the asker holds', async () => {
    const [first, second, third] = await formed(3);
    const held = (holder: CheckNode, node: CheckNode) =>
      holder.sync.checkTables().find((table) => table.node_id === node.id)!;
    const epochOf = (node: CheckNode) => first!.engine.table.get(node.id)!.record.checks.epoch;
    const ask = (wants: Parameters<typeof encodeTablesRequest>[1]) =>
      decodeTablesAnswer(WIRE_VERSION, first!.sync.serveRelay(encodeTablesRequest(WIRE_VERSION, wants))).map(
        (table) => [table.nodeId, table.summary.version],
      );
    const secondStamp = { epoch: epochOf(second!), version: held(first!, second!).version };
    const ownStamp = { epoch: epochOf(first!), version: first!.table.version };
    // Holding what it holds: nothing; holding an older one or none: the table; its own included.
    expect(
      ask([
        { nodeId: second!.id, held: secondStamp },
        { nodeId: first!.id, held: ownStamp },
      ]),
    ).toEqual([]);
    expect(
      ask([
        { nodeId: second!.id, held: { ...secondStamp, version: secondStamp.version - 1 } },
        { nodeId: third!.id },
        { nodeId: first!.id, held: { ...ownStamp, version: ownStamp.version - 1 } },
      ]),
    ).toEqual([
      [second!.id, secondStamp.version],
      [third!.id, held(first!, third!).version],
      [first!.id, ownStamp.version],
    ]);
  });
});

describe('a lone node', () => {
  it('queues no delta while alone: whoever joins fetches its table whole', async () => {
    cluster = new CheckCluster();
    const lone = cluster.add(1, threeChecks());
    cluster.change(lone, { changed: [brief('cpu', 'warning')] });
    await cluster.run(500);
    cluster.change(lone, { changed: [brief('disk', 'critical')] });
    await cluster.run(500);
    const joiner = cluster.add(2, threeChecks());
    const heard: CheckDelta[] = [];
    const onDelta = joiner.sync.onDelta.bind(joiner.sync);
    vi.spyOn(joiner.sync, 'onDelta').mockImplementation((delta) => {
      heard.push(delta);
      return onDelta(delta);
    });
    await cluster.join(joiner);
    await cluster.until(() => cluster!.everywhere(lone), 5000, "the lone node's table at the joiner");
    await cluster.run(2000);
    expect(heard.filter((delta) => delta.nodeId === lone.id)).toEqual([]);
    expect(joiner.fetchedFrom).toEqual([lone.id]);
    // Once it has company, a change goes out as a delta again.
    cluster.change(lone, { changed: [brief('cpu', 'ok')] });
    await cluster.until(() => cluster!.everywhere(lone), 5000, 'the change at the joiner');
    expect(heard.filter((delta) => delta.nodeId === lone.id)).toHaveLength(1);
    expect(joiner.fetchedFrom).toEqual([lone.id]);
  });
});

describe('check tables and membership', () => {
  it("keep a dead node's table (marked dead), drop a left node's, and follow a restart's numbering", async () => {
    const nodes = await formed(5);
    const [first, second, third, fourth] = nodes;
    // Node 4 dies: its table stays, marked.
    fourth!.sync.stop();
    fourth!.engine.stop();
    await cluster!.until(
      () => first!.sync.checkTables().find((table) => table.node_id === fourth!.id)?.node_state === 'dead',
      30_000,
      'node 4 dead, its table kept',
    );
    expect(first!.sync.checkTables().find((table) => table.node_id === fourth!.id)!.checks).toHaveLength(3);
    // Node 3 leaves: its table goes everywhere.
    await cluster!.timers.settle(third!.engine.leave(1000), 5000, 'node 3 leaves');
    await cluster!.until(
      () =>
        [first!, second!].every(
          (node) => !node.sync.checkTables().some((table) => table.node_id === third!.id),
        ),
      10_000,
      "node 3's table dropped",
    );
    // Node 2 restarts (a second later: another epoch) and numbers its table from 1 again, below
    // the version the others hold: its new record makes them fetch the new table.
    cluster!.change(second!, { changed: [brief('cpu', 'warning')] });
    cluster!.change(second!, { changed: [brief('cpu', 'critical')] });
    await cluster!.until(
      () => cluster!.everywhere(second!, [first!, second!, nodes[4]!]),
      5000,
      'two changes',
    );
    cluster!.kill(2);
    await cluster!.run(2000);
    const restarted = cluster!.add(2, [brief('only-one', 'critical')]);
    await cluster!.join(restarted);
    await cluster!.until(
      () => cluster!.everywhere(restarted, [first!, restarted, nodes[4]!]),
      10_000,
      'the new numbering',
    );
    expect(first!.sync.checkTables().find((table) => table.node_id === restarted.id)!.version).toBe(1);
  });

  it("answer a fetch only for this node's own table", async () => {
    const nodes = await formed(2);
    const { encodeTableRequest } = await import('../../agent/gossip/check-codec.js');
    const { WIRE_VERSION } = await import('../../agent/gossip/codec.js');
    expect(() => nodes[0]!.sync.serve(encodeTableRequest(WIRE_VERSION, nodes[1]!.id))).toThrow(
      'this node answers only for itself',
    );
  });
});
