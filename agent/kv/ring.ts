// Which nodes hold a key: a consistent-hash ring (SHA-1, as the seed's KV placed keys) with
// VIRTUAL_NODES points per member, so that a member joining or leaving moves about 1/N of the keys,
// spread over all the others, instead of every key or one neighbour's share. A key's replicas are
// the first `count` distinct members met walking the ring clockwise from the key's point.
import { hash } from 'node:crypto';

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

/**
 * The first 6 bytes of SHA-1, as a number: the ring has 2^48 points. The one-shot crypto.hash is
 * 5x cheaper than a Hash object per point (0.55 against 2.9 us here).
 */
function point(text: string): number {
  return parseInt(hash('sha1', text, 'hex').slice(0, 12), 16);
}

export class HashRing {
  /** The ring's points, ascending; `owners[i]` holds `points[i]`. */
  private readonly points: Float64Array;
  private readonly owners: string[];
  /** Each member's virtual-node points, kept so that the next ring reuses them (see below). */
  private readonly pointsByMember = new Map<string, number[]>();
  private readonly virtualNodes: number;
  readonly members: readonly string[];

  /**
   * `previous`: the ring this one replaces. A member's points never change, so they are taken
   * from it instead of hashed again: during a 50-node formation every node rebuilds its ring at
   * each join it hears of, and that was ~17% of the cluster's CPU (docs/benchmarks.md). The points
   * are sorted as numbers (natively), owners found after.
   */
  constructor(members: readonly string[], virtualNodes = VIRTUAL_NODES, previous?: HashRing) {
    this.members = [...new Set(members)].sort();
    this.virtualNodes = virtualNodes;
    this.points = new Float64Array(this.members.length * virtualNodes);
    // Which member(s) hold a point; several only when two points are equal (vanishingly rare).
    const holders = new Map<number, string | string[]>();
    let at = 0;
    for (const member of this.members) {
      let points = previous?.virtualNodes === virtualNodes ? previous.pointsByMember.get(member) : undefined;
      if (!points) {
        points = [];
        for (let index = 0; index < virtualNodes; index++) points.push(point(`${member}#${index}`));
      }
      this.pointsByMember.set(member, points);
      for (const value of points) {
        this.points[at++] = value;
        const held = holders.get(value);
        if (held === undefined) holders.set(value, member);
        else if (typeof held === 'string') holders.set(value, [held, member]);
        else held.push(member);
      }
    }
    this.points.sort();
    // Equal points are owned in member order (members are sorted), so every node builds the same ring.
    this.owners = new Array<string>(this.points.length);
    for (let index = 0; index < this.points.length; index++) {
      const held = holders.get(this.points[index]!)!;
      this.owners[index] = typeof held === 'string' ? held : held.shift()!;
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
