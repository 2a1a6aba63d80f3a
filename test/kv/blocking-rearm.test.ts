// A blocking query outlives changes of the ring: KV services of ten nodes in this process, each on
// its own replica store (LevelDB in a temp dir), talking the real KV protocol to one another. A
// wait begins while the cluster has three nodes, so it asks those three; seven more join, and the
// key moves to nodes the wait had not asked. A write there must still end the wait: the wait asks
// the new holders when told to follow the ring (the KV subsystem does so a second after membership
// events), instead of learning of the write at its deadline.
import { afterAll, describe, expect, it } from 'vitest';
import { HybridClock } from '../../agent/kv/hlc.js';
import { KvReplicaStore } from '../../agent/kv/replica-store.js';
import { HashRing, type KvMember } from '../../agent/kv/ring.js';
import { kvRpcHandler } from '../../agent/kv/rpc-protocol.js';
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

/** The services of IDS, all seeing `members` (the test grows it). */
async function cluster(members: KvMember[]) {
  const services = new Map<string, KvService>();
  const handlers = new Map<string, ReturnType<typeof kvRpcHandler>>();
  for (const id of IDS) {
    const store = await openStore(tempDir('opsbro-kv-rearm-'));
    stores.push(store);
    const replica = new KvReplicaStore(store.sublevel('kv'));
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
  return services;
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
      const services = await cluster(members);
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
