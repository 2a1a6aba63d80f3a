// Blocking queries of KV services in this process, each node on its own replica store (LevelDB in
// a temp dir), talking the real KV protocol to one another.
//
// A wait outlives changes of the ring: it begins while the cluster has three nodes, so it asks
// those three; seven more join, and the key moves to nodes the wait had not asked. A write there
// must still end the wait: the wait asks the new holders when told to follow the ring (the KV
// subsystem does so a second after membership events), instead of learning of the write at its
// deadline.
//
// A blocking read answers with the write that ended it, even when the first replica to apply it
// is the only one holding it yet (seen in CI through Consul's API: a read of a majority after the
// wake found the old value).
import { afterAll, describe, expect, it } from 'vitest';
import { HybridClock } from '../../agent/kv/hlc.js';
import { KvReplicaStore } from '../../agent/kv/replica-store.js';
import { HashRing, type KvMember } from '../../agent/kv/ring.js';
import { decodeKvRequest, kvRpcHandler } from '../../agent/kv/rpc-protocol.js';
import { KvService } from '../../agent/kv/service.js';
import { openStore, type Store } from '../../agent/store/index.js';
import { cleanupAll, tempDir } from '../helpers/agent-process.js';

const stores: Store[] = [];
afterAll(async () => {
  await Promise.all(stores.map((store) => store.close()));
  cleanupAll();
});

const IDS = Array.from({ length: 10 }, (_, i) => `node-${i}`);
const FIRST = IDS.slice(0, 3);
/**
 * Long enough that only a change, not the deadline, can end a wait within the test's time; not a
 * whole number of ms, as a jittered wait's is not (the wire takes whole ms: such a wait was refused
 * by every holder and asked again every second).
 */
const WAIT_MS = 10 * 60_000 - 0.25;

/**
 * The services of `ids`, all seeing `members` (a test may grow it), and their replica stores.
 * `hold`, when it gives a promise for a request to a node, delays that request until it settles.
 */
async function cluster(
  members: KvMember[],
  ids: readonly string[] = IDS,
  hold: (node: string, payload: Uint8Array) => Promise<void> | undefined = () => undefined,
) {
  const services = new Map<string, KvService>();
  const replicas = new Map<string, KvReplicaStore>();
  const handlers = new Map<string, ReturnType<typeof kvRpcHandler>>();
  for (const id of ids) {
    const store = await openStore(tempDir('opsbro-kv-rearm-'));
    stores.push(store);
    const replica = new KvReplicaStore(store.sublevel('kv'));
    replicas.set(id, replica);
    const clock = new HybridClock(id);
    const service = new KvService({
      selfId: id,
      store: replica,
      clock,
      members: () => members,
      request: async (node, payload) => {
        const handler = handlers.get(node);
        if (!handler || !members.some((member) => member.id === node))
          throw new Error(`${node} is not reachable`);
        await hold(node, payload);
        return handler(payload, { peerId: id });
      },
      replicas: 3,
      writeQuorum: 2,
      readQuorum: 2,
    });
    services.set(id, service);
    handlers.set(
      id,
      kvRpcHandler(replica, clock, {
        coordinate: (action) => service.coordinate(action),
        wait: (prefix, exact, index, timeoutMs) => service.waiters.wait(prefix, exact, index, timeoutMs),
        digest: () => Promise.reject(new Error('not in this test')),
        versions: () => Promise.reject(new Error('not in this test')),
      }),
    );
  }
  return { services, replicas };
}

/** A key that the three first nodes hold now and that none of them holds once all ten are in. */
function movingKey(prefix: string): string {
  const before = new HashRing(FIRST);
  const after = new HashRing(IDS);
  for (let i = 0; ; i++) {
    const key = `${prefix}${i}`;
    const holders = after.replicasFor(key, 3);
    if (holders.every((node) => !FIRST.includes(node)) && before.replicasFor(key, 3).length === 3) return key;
  }
}

const member = (id: string): KvMember => ({ id, state: 'alive', groups: [] });

describe('a blocking query across a change of the ring', () => {
  for (const exact of [true, false])
    it(`sees a write on holders that joined after it began (${exact ? 'one key' : 'a prefix'})`, async () => {
      const members = FIRST.map(member);
      const { services } = await cluster(members);
      const prefix = exact ? 'switch/' : 'app/';
      const key = movingKey(prefix);
      const watcher = services.get('node-0')!;
      const asked = exact ? key : prefix;

      const waiting = watcher.waitForChange(asked, exact, 0, WAIT_MS);
      // The wait is in progress on the three first nodes; then the cluster grows.
      await new Promise((resolve) => setImmediate(resolve));
      for (const id of IDS.slice(3)) {
        members.push(member(id));
        for (const service of services.values()) service.followRing();
      }
      const holders = watcher.ring().replicasFor(key, 3);
      expect(holders.some((node) => FIRST.includes(node))).toBe(false);

      const written = await services
        .get(holders[0]!)!
        .execute({ action: 'put', key, value: new TextEncoder().encode('on'), flags: 0 });
      expect(written.ok).toBe(true);
      // Ends with the write: before the re-arm, only at WAIT_MS (the test would time out).
      await expect(waiting).resolves.toBe(true);
      // None of the first nodes holds the key: the change was seen on a holder that joined later.
      for (const id of FIRST) expect(await services.get(id)!.waiters.highestIndex(key, true)).toBe(0);
    });
});

describe('a blocking read woken by the first replica to apply a write', () => {
  it('answers with that write, though the majority it reads next does not hold it yet', async () => {
    const ids = FIRST;
    const members = ids.map(member);
    // Reads sent to node-2 wait for the end of the test: the watcher's majority read after the wake
    // is then answered by node-0 (itself) and node-1, neither of which has the write.
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    let holding = false;
    const { services, replicas } = await cluster(members, ids, (node, payload) => {
      if (!holding || node !== 'node-2') return undefined;
      const request = decodeKvRequest(payload);
      const reads =
        request.op === 'read' || (request.op === 'batch' && request.items.some((item) => item.op === 'read'));
      return reads ? released : undefined;
    });
    try {
      const watcher = services.get('node-0')!;
      const key = 'app/name';
      const encoder = new TextEncoder();
      const first = await services
        .get('node-1')!
        .execute({ action: 'put', key, value: encoder.encode('shop'), flags: 0 });
      expect(first.ok).toBe(true);
      // Every replica holds the first value (W is 2: the third may still be applying it).
      for (const id of ids) await expect.poll(() => replicas.get(id)!.record(key)).toBeDefined();

      const blocking = watcher.blockingGet(key, first.index, WAIT_MS, { consistent: false });
      // Its first read is done once it waits on node-2; the reads after the wake are held there.
      await expect.poll(() => services.get('node-2')!.waiters.size).toBe(1);
      holding = true;
      // The write as its first replica holds it, before the coordinator sends it to the others.
      const clock = new HybridClock('node-1');
      clock.observe((await replicas.get('node-1')!.record(key))!.version);
      const version = clock.tick();
      const record = { value: encoder.encode('shop-v2'), flags: 0, version, createIndex: first.index };
      expect(await replicas.get('node-2')!.apply(key, record)).toBe('applied');

      const woken = await blocking;
      expect(woken.index).toBeGreaterThan(first.index);
      expect(new TextDecoder().decode(woken.record!.value)).toBe('shop-v2');
    } finally {
      release();
    }
  });
});
