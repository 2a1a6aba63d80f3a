// What one node holds of the KV store, on the real store (LevelDB in a temp dir): last writer
// wins whatever order records arrive in, a tombstone hides the value and stays until collected,
// a TTL makes a record absent, listing skips what is not live.
import { afterAll, describe, expect, it } from 'vitest';
import { KvReplicaStore, type KvRecord } from '../../agent/kv/replica-store.js';
import { openStore, type Store } from '../../agent/store/index.js';
import { cleanupAll, tempDir } from '../helpers/agent-process.js';

const T0 = Date.UTC(2026, 11, 5);
const stores: Store[] = [];
afterAll(async () => {
  await Promise.all(stores.map((store) => store.close()));
  cleanupAll();
});

async function replica(now: () => number) {
  const store = await openStore(tempDir('opsbro-kv-'));
  stores.push(store);
  return new KvReplicaStore(store.sublevel('kv'), now);
}

const record = (value: string, wall: number, node = 'n1', extra: Partial<KvRecord> = {}): KvRecord => ({
  value: Buffer.from(value),
  flags: 0,
  version: { wall, logical: 0, node },
  createIndex: 1,
  ...extra,
});

describe('a KV replica', () => {
  it('keeps the newest version whatever order the writes arrive in', async () => {
    const writes = [
      record('one', T0),
      record('three', T0 + 2),
      record('two', T0 + 1),
      record('tie', T0 + 2, 'n0'),
    ];
    const orders = [writes, [...writes].reverse(), [writes[2]!, writes[0]!, writes[3]!, writes[1]!]];
    for (const order of orders) {
      const store = await replica(() => T0);
      const outcomes = await Promise.all(order.map((write) => store.apply('app/config', write)));
      expect(outcomes).toContain('applied');
      const held = await store.read('app/config');
      // T0 + 2 from n1 beats T0 + 2 from n0 (node ids break ties).
      expect(Buffer.from(held!.value).toString()).toBe('three');
    }
    const store = await replica(() => T0);
    expect(await store.apply('k', record('new', T0 + 5))).toBe('applied');
    expect(await store.apply('k', record('old', T0 + 1))).toBe('stale');
    expect(await store.apply('k', record('new', T0 + 5))).toBe('stale'); // the same write again
  });

  it('hides a deleted value behind its tombstone until the tombstone is collected', async () => {
    let now = T0;
    const store = await replica(() => now);
    await store.apply('k', record('value', T0));
    await store.apply('k', record('', T0 + 10, 'n2', { deleted: true }));
    expect(await store.read('k')).toBeUndefined();
    expect((await store.record('k'))?.deleted).toBe(true);
    // A late copy of the old value does not come back.
    expect(await store.apply('k', record('value', T0))).toBe('stale');
    expect(await store.collectTombstones(60_000)).toBe(0); // too young
    now = T0 + 120_000;
    expect(await store.collectTombstones(60_000)).toBe(1);
    expect(await store.record('k')).toBeUndefined();
  });

  it('reads a record past its TTL as absent, and lists only live records under a prefix', async () => {
    let now = T0;
    const store = await replica(() => now);
    await store.apply('app/a', record('a', T0));
    await store.apply('app/b', record('b', T0, 'n1', { expiresAt: T0 + 1_000 }));
    await store.apply('app/c', record('', T0, 'n1', { deleted: true }));
    await store.apply('other/d', record('d', T0));
    const listed = async () => {
      const keys: string[] = [];
      for await (const [key] of store.list('app/')) keys.push(key);
      return keys;
    };
    expect(await listed()).toEqual(['app/a', 'app/b']);
    now = T0 + 1_000;
    expect(await store.read('app/b')).toBeUndefined();
    expect(await listed()).toEqual(['app/a']);
  });
});
