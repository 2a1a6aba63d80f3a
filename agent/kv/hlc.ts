// Versions of KV writes: a hybrid logical clock (Kulkarni et al., "Logical Physical Clocks",
// 2014) and the writing node's id. Two writes compare by (wall ms, logical counter, node id):
// last writer wins, every node decides the same, and a version never goes back even when a
// machine's clock does. The clock follows the newest version it sees from other nodes (so a write
// after a read is newer than what it read), but not one from further ahead than MAX_DRIFT_MS: a
// member whose clock is wrong cannot drag the cluster's versions into the future.
//
// A version packs into one integer, the index that Consul's API shows (ModifyIndex, X-Consul-Index):
// ms since INDEX_EPOCH_MS times 4096 plus the counter, under 2^53 for ~70 years.

/** 2024-01-01T00:00:00Z: indexes count from here so that they stay under 2^53. */
export const INDEX_EPOCH_MS = 1_704_067_200_000;
/** The counter's room within one ms; at the limit the clock waits for the next ms. */
export const LOGICAL_LIMIT = 4096;
/** How far ahead of this machine's clock a remote version may pull it. */
export const MAX_DRIFT_MS = 60_000;

export interface Version {
  /** ms since the Unix epoch (the clock's, not necessarily the machine's). */
  wall: number;
  logical: number;
  /** The writing node's id: ties between nodes are broken by it. */
  node: string;
}

/** < 0: a is older; 0: the same write; > 0: a is newer. */
export function compareVersions(a: Version, b: Version): number {
  if (a.wall !== b.wall) return a.wall - b.wall;
  if (a.logical !== b.logical) return a.logical - b.logical;
  return a.node < b.node ? -1 : a.node > b.node ? 1 : 0;
}

/** The version as Consul's index: a number that grows with the version (node ids aside). */
export function indexOf(version: Pick<Version, 'wall' | 'logical'>): number {
  return (version.wall - INDEX_EPOCH_MS) * LOGICAL_LIMIT + version.logical;
}

export class HybridClock {
  private wall = 0;
  private logical = 0;

  constructor(
    private readonly node: string,
    /** ms since the Unix epoch: Date.now in the agent, the test's own in tests. */
    private readonly physicalNow: () => number = Date.now,
  ) {}

  /** A new version for a write made here: newer than every version made or seen before. */
  tick(): Version {
    const physical = this.physicalNow();
    if (physical > this.wall) {
      this.wall = physical;
      this.logical = 0;
    } else if (this.logical + 1 < LOGICAL_LIMIT) {
      this.logical++;
    } else {
      // 4096 versions within one ms of the clock: borrow the next ms (the physical clock catches up).
      this.wall++;
      this.logical = 0;
    }
    return { wall: this.wall, logical: this.logical, node: this.node };
  }

  /**
   * Takes in a version written elsewhere, so that the next tick() is newer. False (and nothing
   * taken in) when it is more than MAX_DRIFT_MS ahead of this machine's clock.
   */
  observe(remote: Pick<Version, 'wall' | 'logical'>): boolean {
    if (remote.wall > this.physicalNow() + MAX_DRIFT_MS) return false;
    if (remote.wall > this.wall || (remote.wall === this.wall && remote.logical > this.logical)) {
      this.wall = remote.wall;
      this.logical = remote.logical;
    }
    return true;
  }
}
