// KV versions and placement: the hybrid logical clock never goes back (a clock set back, a burst
// within one ms, a newer remote version) and refuses to be dragged far ahead; the ring gives every
// node the same distinct replicas, spreads keys evenly, and moves about 1/N of them when a member
// joins or leaves.
import { describe, expect, it } from 'vitest';
import {
  compareVersions,
  HybridClock,
  indexOf,
  INDEX_EPOCH_MS,
  LOGICAL_LIMIT,
  MAX_DRIFT_MS,
  type Version,
} from '../../agent/kv/hlc.js';
import { HashRing, kvHolders } from '../../agent/kv/ring.js';

const T0 = Date.UTC(2026, 11, 5);

describe('the hybrid logical clock', () => {
  it('grows through a clock set back and a burst within one ms, and its index grows with it', () => {
    let physical = T0;
    const clock = new HybridClock('node-a', () => physical);
    const versions: Version[] = [];
    for (let i = 0; i < 10; i++) versions.push(clock.tick()); // one ms: the counter
    physical = T0 - 5_000; // the machine's clock set back 5 s
    for (let i = 0; i < 10; i++) versions.push(clock.tick());
    physical = T0 + 1;
    versions.push(clock.tick());
    for (let i = 1; i < versions.length; i++) {
      expect(compareVersions(versions[i]!, versions[i - 1]!)).toBeGreaterThan(0);
      expect(indexOf(versions[i]!)).toBeGreaterThan(indexOf(versions[i - 1]!));
    }
    expect(versions[19]).toEqual({ wall: T0, logical: 19, node: 'node-a' });
    expect(versions[20]).toEqual({ wall: T0 + 1, logical: 0, node: 'node-a' });
    expect(indexOf({ wall: INDEX_EPOCH_MS + 1, logical: 3 })).toBe(LOGICAL_LIMIT + 3);
    expect(Number.isSafeInteger(indexOf({ wall: Date.UTC(2090, 0, 1), logical: LOGICAL_LIMIT - 1 }))).toBe(
      true,
    );
  });

  it('borrows the next ms when 4096 versions fall within one', () => {
    const clock = new HybridClock('node-a', () => T0);
    let last = clock.tick();
    for (let i = 0; i < LOGICAL_LIMIT + 10; i++) {
      const next = clock.tick();
      expect(compareVersions(next, last)).toBeGreaterThan(0);
      expect(next.logical).toBeLessThan(LOGICAL_LIMIT);
      last = next;
    }
    expect(last.wall).toBe(T0 + 1);
  });

  it('follows a newer remote version, but not one from further ahead than the drift bound', () => {
    const clock = new HybridClock('node-a', () => T0);
    expect(clock.observe({ wall: T0 + 2_000, logical: 7 })).toBe(true);
    expect(clock.tick()).toEqual({ wall: T0 + 2_000, logical: 8, node: 'node-a' });
    expect(clock.observe({ wall: T0 + MAX_DRIFT_MS + 1, logical: 0 })).toBe(false);
    expect(clock.tick()).toEqual({ wall: T0 + 2_000, logical: 9, node: 'node-a' });
    // An older one changes nothing.
    expect(clock.observe({ wall: T0 - 1_000, logical: 99 })).toBe(true);
    expect(clock.tick().logical).toBe(10);
  });

  it('orders versions by time, then counter, then node: every replica decides alike', () => {
    const a = { wall: T0, logical: 1, node: 'b' };
    expect(compareVersions(a, { wall: T0, logical: 1, node: 'a' })).toBeGreaterThan(0);
    expect(compareVersions(a, { wall: T0, logical: 2, node: 'a' })).toBeLessThan(0);
    expect(compareVersions(a, { wall: T0 + 1, logical: 0, node: 'a' })).toBeLessThan(0);
    expect(compareVersions(a, { ...a })).toBe(0);
  });
});

describe('the ring', () => {
  const five = ['n1', 'n2', 'n3', 'n4', 'n5'];
  const keys = Array.from({ length: 20_000 }, (_, i) => `service/${i}/config`);

  it('gives distinct replicas, the same whatever order the members came in', () => {
    const ring = new HashRing(five);
    const again = new HashRing([...five].reverse());
    for (const key of keys.slice(0, 500)) {
      const replicas = ring.replicasFor(key, 3);
      expect(new Set(replicas).size).toBe(3);
      expect(again.replicasFor(key, 3)).toEqual(replicas);
    }
    expect(new HashRing(['solo']).replicasFor('k', 3)).toEqual(['solo']);
    expect(new HashRing([]).replicasFor('k', 3)).toEqual([]);
  });

  it('spreads keys evenly over the members (64 points each)', () => {
    const ring = new HashRing(five);
    const primaries = new Map<string, number>();
    for (const key of keys) {
      const first = ring.replicasFor(key, 1)[0]!;
      primaries.set(first, (primaries.get(first) ?? 0) + 1);
    }
    // 4,000 each on average; 64 points per member keep every share within about 25% of it.
    for (const member of five) {
      expect(primaries.get(member)).toBeGreaterThan(3_000);
      expect(primaries.get(member)).toBeLessThan(5_000);
    }
  });

  it('moves about 1/N of the keys when a member joins, and only to the newcomer', () => {
    const before = new HashRing(five);
    const after = new HashRing([...five, 'n6']);
    let moved = 0;
    for (const key of keys) {
      const was = before.replicasFor(key, 1)[0];
      const now = after.replicasFor(key, 1)[0];
      if (was === now) continue;
      moved++;
      expect(now).toBe('n6');
    }
    // 1/6 of 20,000 is 3,333.
    expect(moved).toBeGreaterThan(2_300);
    expect(moved).toBeLessThan(4_500);
  });

  it('builds the same ring from the one it replaces as from scratch (points reused, not rehashed)', () => {
    const first = new HashRing(five);
    // n2 leaves and n6 joins: n6's points are new, the others come from `first`.
    const members = ['n1', 'n3', 'n4', 'n5', 'n6'];
    const reused = new HashRing(members, undefined, first);
    const fresh = new HashRing(members);
    // A ring with fewer points per member must not take a 64-point ring's points.
    const smaller = new HashRing(members, 8, first);
    const smallerFresh = new HashRing(members, 8);
    for (const key of keys.slice(0, 2_000)) {
      expect(reused.replicasFor(key, 3)).toEqual(fresh.replicasFor(key, 3));
      expect(smaller.replicasFor(key, 3)).toEqual(smallerFresh.replicasFor(key, 3));
    }
  });

  it('holds keys on the members of group kv (else on all), failed ones kept until they leave', () => {
    const members = [
      { id: 'a', state: 'alive', groups: ['kv'] },
      { id: 'b', state: 'alive', groups: ['web'] },
      { id: 'c', state: 'dead', groups: ['kv'] },
      { id: 'd', state: 'alive', groups: ['kv', 'db'] },
      { id: 'e', state: 'left', groups: ['kv'] },
    ];
    expect(kvHolders(members)).toEqual(['a', 'c', 'd']);
    expect(kvHolders(members.map((member) => ({ ...member, groups: [] })))).toEqual(['a', 'b', 'c', 'd']);
  });
});
