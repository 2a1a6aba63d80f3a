// The quorum logic of KV writes and reads over real replica stores (LevelDB in temp dirs, one per
// node, in this process) and a transport the test can cut: a write is acknowledged with W of N
// replicas and refused below; a consistent read finds the newest copy and repairs the replicas that
// missed it; concurrent writers through different coordinators converge on one value everywhere;
// a delete hides the value on every replica.
import { afterAll, describe, expect, it } from 'vitest';
import { KvCoordinator, QuorumError, type ReplicaTransport } from '../../agent/kv/coordinator.js';
import { HybridClock, indexOf, type Version } from '../../agent/kv/hlc.js';
import { HISTORY_LENGTH, KvReplicaStore, type KvRecord } from '../../agent/kv/replica-store.js';
import { HashRing } from '../../agent/kv/ring.js';
import { openStore, type Store } from '../../agent/store/index.js';
import { cleanupAll, tempDir } from '../helpers/agent-process.js';

const stores: Store[] = [];
afterAll(async () => {
  await Promise.all(stores.map((store) => store.close()));
  cleanupAll();
});

/** N nodes, each a replica store; `down` nodes refuse every request. */
async function cluster(names: string[]) {
  const replicas = new Map<string, KvReplicaStore>();
  for (const name of names) {
    const store = await openStore(tempDir('opsbro-kv-node-'));
    stores.push(store);
    replicas.set(name, new KvReplicaStore(store.sublevel('kv')));
  }
  const down = new Set<string>();
  // Each request waits 0-2 ms (a network): rounds of different coordinators interleave.
  // A request to a node that is down fails as it is sent.
  const reach = async (node: string): Promise<KvReplicaStore> => {
    if (down.has(node)) throw new Error(`${node} is down`);
    await new Promise((resolve) => setTimeout(resolve, Math.floor(Math.random() * 3)));
    return replicas.get(node)!;
  };
  const transport: ReplicaTransport = {
    apply: async (node, key, record) => (await reach(node)).apply(key, record),
    read: async (node, key) => (await reach(node)).record(key),
    prepare: async (node, key, ballot) => (await reach(node)).prepare(key, ballot),
    accept: async (node, key, ballot, record) => (await reach(node)).accept(key, ballot, record),
  };
  const ring = new HashRing(names);
  // One clock per node, as in the agent (two clocks of one node could give one version twice).
  const clocks = new Map<string, HybridClock>();
  const coordinator = (self: string) =>
    new KvCoordinator({
      clock: clocks.get(self) ?? clocks.set(self, new HybridClock(self)).get(self)!,
      ring: () => ring,
      transport,
      replicas: 3,
      writeQuorum: 2,
      readQuorum: 1,
    });
  return { replicas, down, ring, coordinator };
}

const text = (value: Uint8Array | undefined) => (value ? Buffer.from(value).toString() : undefined);

describe('the KV coordinator', () => {
  it('acknowledges a write held by 2 of 3 replicas, and refuses one that only 1 can hold', async () => {
    const { down, ring, coordinator, replicas } = await cluster(['n1', 'n2', 'n3', 'n4', 'n5']);
    const key = 'app/config';
    const [first, second, third] = ring.replicasFor(key, 3) as [string, string, string];
    down.add(third);
    const written = await coordinator('n1').put(key, Buffer.from('v1'));
    expect(written.acknowledged).toBe(2);
    expect(text((await replicas.get(first)!.read(key))?.value)).toBe('v1');
    expect(text((await replicas.get(second)!.read(key))?.value)).toBe('v1');
    down.add(second);
    await expect(coordinator('n1').put(key, Buffer.from('v2'))).rejects.toThrow(QuorumError);
    await expect(coordinator('n1').put(key, Buffer.from('v2'))).rejects.toThrow(
      /2 of the key's 3 replicas were needed and 2 could not be reached \(\w+: \w+ is down; \w+: \w+ is down\)/,
    );
  });

  it('reads the newest copy with a majority and repairs the replica that missed the write', async () => {
    const { down, ring, coordinator, replicas } = await cluster(['n1', 'n2', 'n3']);
    const key = 'feature/flag';
    await coordinator('n1').put(key, Buffer.from('old'));
    const missed = ring.replicasFor(key, 3)[2]!;
    // Acknowledged by two; the third copy lands a moment later.
    await expect.poll(async () => text((await replicas.get(missed)!.read(key))?.value)).toBe('old');
    down.add(missed);
    await coordinator('n2').put(key, Buffer.from('new'));
    down.delete(missed);
    expect(text((await replicas.get(missed)!.read(key))?.value)).toBe('old');
    const read = await coordinator('n3').read(key, { consistent: true });
    expect(text(read?.value)).toBe('new');
    // The repair was sent when the read answered.
    await expect.poll(async () => text((await replicas.get(missed)!.read(key))?.value)).toBe('new');
  });

  it('converges on one value everywhere when coordinators write the same key at once', async () => {
    const { coordinator, replicas, ring } = await cluster(['n1', 'n2', 'n3']);
    const key = 'race';
    await Promise.all(
      Array.from({ length: 30 }, (_, i) => coordinator(`n${(i % 3) + 1}`).put(key, Buffer.from(`w${i}`))),
    );
    // Every write was sent to all three: once they have landed, all hold the same newest one.
    await expect
      .poll(async () => {
        const held = await Promise.all(
          ring.replicasFor(key, 3).map(async (node) => text((await replicas.get(node)!.read(key))?.value)),
        );
        return new Set(held).size;
      })
      .toBe(1);
  });

  it('keeps CreateIndex while the key lives; a delete hides the value on every replica', async () => {
    const { coordinator, replicas, ring } = await cluster(['n1', 'n2', 'n3']);
    const key = 'svc/db';
    const created = await coordinator('n1').put(key, Buffer.from('a'));
    // A write takes CreateIndex from the first replica it asks (docs/kv.md): the first write is
    // acknowledged by 2 of 3, and the third, still applying it, may be the one asked. Once all
    // three hold it, the second write keeps it.
    for (const node of ring.replicasFor(key, 3))
      await expect.poll(async () => (await replicas.get(node)!.record(key)) !== undefined).toBe(true);
    await coordinator('n2').put(key, Buffer.from('b'));
    const held = await coordinator('n3').read(key, { consistent: true });
    expect(held?.createIndex).toBe(created.index);
    await coordinator('n2').delete(key);
    expect(await coordinator('n1').read(key, { consistent: true })).toBeUndefined();
    for (const node of ring.replicasFor(key, 3)) {
      await expect.poll(async () => (await replicas.get(node)!.record(key))?.deleted).toBe(true);
    }
  });

  it('lets no two compare-and-sets on one key both succeed: concurrent increments lose none', async () => {
    const { coordinator, down } = await cluster(['n1', 'n2', 'n3', 'n4']);
    const key = 'counter';
    const coordinators = ['n1', 'n2', 'n3', 'n4'].map((node) => coordinator(node));
    const replicasOfKey = new HashRing(['n1', 'n2', 'n3', 'n4']).replicasFor(key, 3);
    // The counter's value lists the ids of the increments it holds: every acknowledged one must be
    // there once, a refused one never, and the only others are attempts that failed with a quorum
    // error (their outcome is unknown: they may have been chosen).
    const acknowledged = new Set<string>();
    const refused = new Set<string>();
    const unknown = new Set<string>();
    const idsOf = (record: { value: Uint8Array } | undefined): string[] =>
      record ? (JSON.parse(Buffer.from(record.value).toString()) as string[]) : [];
    // Four clients, one per coordinator, each adding its increments until the counter holds 15.
    const client = async (at: number) => {
      const through = coordinators[at]!;
      for (let attempt = 0; ; attempt++) {
        const id = `${at}.${attempt}`;
        try {
          const current = await through.read(key, { consistent: true });
          if (idsOf(current).filter((held) => held.startsWith(`${at}.`)).length >= 15) return;
          const index = current ? indexOf(current.version) : 0;
          const outcome = await through.cas(key, index, (live, version) => ({
            value: Buffer.from(JSON.stringify([...idsOf(live), id])),
            flags: 0,
            version,
            createIndex: live ? live.createIndex : indexOf(version),
          }));
          (outcome.ok ? acknowledged : refused).add(id);
        } catch (error) {
          // Only a quorum failure may end an attempt (the client tries again).
          expect(error).toBeInstanceOf(QuorumError);
          unknown.add(id);
        }
      }
    };
    // Meanwhile one replica of the key at a time is cut off, then back (never two: a majority stays).
    let flapping = true;
    const flap = (async () => {
      for (let turn = 0; flapping; turn++) {
        const victim = replicasOfKey[turn % 3]!;
        down.add(victim);
        await new Promise((resolve) => setTimeout(resolve, 5));
        down.delete(victim);
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
    })();
    await Promise.all([0, 1, 2, 3].map(client));
    flapping = false;
    await flap;
    const final = idsOf(await coordinators[0]!.read(key, { consistent: true }));
    expect(new Set(final).size, 'no increment twice').toBe(final.length);
    for (const id of acknowledged) expect(final).toContain(id);
    for (const id of refused) expect(final).not.toContain(id);
    for (const id of final) expect(acknowledged.has(id) || unknown.has(id), id).toBe(true);
    expect(final.length).toBeGreaterThanOrEqual(60);
  });

  it('never refuses a CAS whose earlier round was chosen: found in the history, or unknown once it may be forgotten', async () => {
    for (const [others, expected] of [
      [5, 'ok'],
      [HISTORY_LENGTH + 4, 'unknown'],
    ] as const) {
      const { replicas, coordinator } = await cluster(['n1', 'n2', 'n3']);
      const key = `counter-${others}`;
      const idsOf = (record: { value: Uint8Array } | undefined): string[] =>
        record ? (JSON.parse(Buffer.from(record.value).toString()) as string[]) : [];
      const increment =
        (id: string) =>
        (live: KvRecord | undefined, version: Version): KvRecord => ({
          value: Buffer.from(JSON.stringify([...idsOf(live), id])),
          flags: 0,
          version,
          createIndex: live ? live.createIndex : indexOf(version),
        });
      // Proposer A's first accept lands on n1 and n2 (its value is chosen) but A hears neither;
      // n3 refuses it: A goes for another round, unaware.
      const other = coordinator('n2');
      let firstRound = true;
      const lossy: ReplicaTransport = {
        apply: (node, k, record) => replicas.get(node)!.apply(k, record),
        read: (node, k) => replicas.get(node)!.record(k),
        prepare: (node, k, ballot) => replicas.get(node)!.prepare(k, ballot),
        accept: async (node, k, ballot, record) => {
          if (!firstRound) return replicas.get(node)!.accept(k, ballot, record);
          if (node === 'n3') return { accepted: false, higher: new HybridClock('n9').tick() };
          await replicas.get(node)!.accept(k, ballot, record);
          throw new Error(`the answer of ${node} was lost`);
        },
      };
      const proposerA = new KvCoordinator({
        clock: new HybridClock('n1'),
        ring: () => new HashRing(['n1', 'n2', 'n3']),
        transport: lossy,
        replicas: 3,
        writeQuorum: 2,
        readQuorum: 1,
      });
      // Between A's rounds, other clients change the key `others` times (the first finishes A's).
      const pause = async () => {
        if (!firstRound) return;
        firstRound = false;
        for (let n = 0; n < others; n++) {
          for (;;) {
            const current = await other.read(key, { consistent: true });
            const outcome = await other.cas(key, current ? indexOf(current.version) : 0, increment(`B.${n}`));
            if (outcome.ok) break;
          }
        }
      };
      const outcome = await proposerA.cas(key, 0, increment('A.0'), pause).then(
        (result) => (result.ok ? 'ok' : 'refused'),
        (error: unknown) => (error instanceof QuorumError ? 'unknown' : String(error)),
      );
      expect(outcome, `${others} changes between the rounds`).toBe(expected);
      // Whatever A was told, its increment is there, first, once.
      const final = idsOf(await other.read(key, { consistent: true }));
      expect(final[0]).toBe('A.0');
      expect(final.filter((id) => id === 'A.0')).toHaveLength(1);
      expect(final).toHaveLength(others + 1);
    }
  });

  it('refuses a CAS whose index is not the current one, and creates only when asked with 0', async () => {
    const { coordinator } = await cluster(['n1', 'n2', 'n3']);
    const make = (text: string) => (_live: unknown, version: Version) => ({
      value: Buffer.from(text),
      flags: 0,
      version,
      createIndex: indexOf(version),
    });
    const first = await coordinator('n1').cas('lock', 0, make('a'));
    expect(first.ok).toBe(true);
    // 0 = create only: the key exists now.
    expect(await coordinator('n2').cas('lock', 0, make('b'))).toEqual({ ok: false, index: first.index });
    expect((await coordinator('n3').cas('lock', first.index - 1, make('c'))).ok).toBe(false);
    const second = await coordinator('n3').cas('lock', first.index, make('d'));
    expect(second.ok).toBe(true);
    expect(text((await coordinator('n2').read('lock', { consistent: true }))?.value)).toBe('d');
  });
});
