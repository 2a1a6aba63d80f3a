// Which nodes hold a key: a consistent-hash ring (SHA-1, as the seed's KV placed keys) with
// VIRTUAL_NODES points per member, so that a member joining or leaving moves about 1/N of the keys,
// spread over all the others, instead of every key or one neighbour's share. A key's replicas are
// the first `count` distinct members met walking the ring clockwise from the key's point.
import { createHash } from 'node:crypto';

export const VIRTUAL_NODES = 64;

/** A member as placement sees it (main maps gossip's members to this). */
export interface KvMember {
  id: string;
  state: string;
  groups: readonly string[];
}

/**
 * The members that hold keys: those of group `kv`, or every member when none is in that group (a
 * cluster that never set up KV nodes still has a KV store). A member that failed stays on the
 * ring until it leaves or gossip reaps it (docs/kv.md, Placement): a failure is transient, its
 * share is served by the key's other replicas meanwhile, and a CAS's majorities stay those of the
 * same replica set while nodes die and come back.
 */
export function kvHolders(members: readonly KvMember[]): string[] {
  const present = members.filter((member) => member.state !== 'left');
  const inGroup = present.filter((member) => member.groups.includes('kv'));
  return (inGroup.length ? inGroup : present).map((member) => member.id).sort();
}

/** The first 6 bytes of SHA-1, as a number: the ring has 2^48 points. */
function point(text: string): number {
  return createHash('sha1').update(text).digest().readUIntBE(0, 6);
}

export class HashRing {
  private readonly points: number[] = [];
  private readonly owners: string[] = [];
  readonly members: readonly string[];

  constructor(members: readonly string[], virtualNodes = VIRTUAL_NODES) {
    this.members = [...new Set(members)].sort();
    const entries: Array<[number, string]> = [];
    for (const member of this.members) {
      for (let index = 0; index < virtualNodes; index++) entries.push([point(`${member}#${index}`), member]);
    }
    // Equal points (vanishingly rare) are ordered by member, so every node builds the same ring.
    entries.sort((a, b) => a[0] - b[0] || (a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0));
    for (const [at, member] of entries) {
      this.points.push(at);
      this.owners.push(member);
    }
  }

  /** The key's replicas, first the key's own successor: `count` distinct members at most. */
  replicasFor(key: string, count: number): string[] {
    const wanted = Math.min(count, this.members.length);
    if (wanted === 0) return [];
    const start = this.successor(point(key));
    const replicas: string[] = [];
    for (let step = 0; replicas.length < wanted && step < this.points.length; step++) {
      const owner = this.owners[(start + step) % this.points.length]!;
      if (!replicas.includes(owner)) replicas.push(owner);
    }
    return replicas;
  }

  /** The index of the first point at or after `at` (wrapping to 0). */
  private successor(at: number): number {
    let low = 0;
    let high = this.points.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (this.points[middle]! < at) low = middle + 1;
      else high = middle;
    }
    return low === this.points.length ? 0 : low;
  }
}
