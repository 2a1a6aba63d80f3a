// The member table and SWIM's rules for changing it: who is alive, suspect, dead or left, and at
// which incarnation. Networking is elsewhere: this file decides, the engine sends what it returns.
import type { NodeRecord } from './codec.js';
import { type GossipTime, Suspicion, suspicionMinTimeout, SYSTEM_TIME } from './suspicion.js';

export type MemberState = 'alive' | 'suspect' | 'dead' | 'left';

export interface Member {
  record: NodeRecord;
  incarnation: number;
  state: MemberState;
  /** When the state last changed (ms since the epoch): reaping and "recently dead" use it. */
  stateChangedAt: number;
  /** Round-trip time of the last direct probe, in ms. */
  rttMs?: number;
  suspicion?: Suspicion;
}

export type MembershipEventType = 'node-join' | 'node-update' | 'node-suspect' | 'node-dead' | 'node-leave';

export interface MembershipEvent {
  type: MembershipEventType;
  member: Member;
}

/** What a rule decided: events to publish and whether to gossip the message on. */
export interface Outcome {
  events: MembershipEvent[];
  /** Re-gossip the message that caused this (it was news). */
  rebroadcast: boolean;
  /** This node was suspected or declared dead: it must refute with this incarnation. */
  refuteWith?: number;
  /** A new member was ignored: the table holds maxMembers already. */
  refused?: boolean;
}

/** Independent confirmations a suspicion needs before its timer can reach the minimum. */
const MIN_CONFIRMATIONS = 2;

/**
 * Members a table holds at most (this node included). Well above the clusters gossip is tuned for
 * (the simulator runs 1,000): a bound on what a flood of made-up members (from a key holder) can
 * cost, not a size to plan for. Dead and left members count until reaped.
 */
export const DEFAULT_MAX_MEMBERS = 10_000;

const nothing = (): Outcome => ({ events: [], rebroadcast: false });

export interface SuspicionSettings {
  multiplier: number;
  maxMultiplier: number;
  probeIntervalMs: number;
}

export class MemberTable {
  private readonly members = new Map<string, Member>();
  /**
   * Other members alive or suspect, kept as states change: the cluster size is read for every
   * packet sent (retransmit limit), too often to count the table each time.
   */
  private othersLive = 0;
  /** When the live count last changed (a member came or went): how long membership has been still. */
  private liveChangedAtMs: number;

  constructor(
    private readonly selfId: string,
    private readonly suspicion: SuspicionSettings,
    /** Called when a suspicion times out: the engine declares the member dead. */
    private readonly onSuspicionTimeout: (member: Member) => void,
    /** Called when this node stops being alone (a first other member alive): probing resumes. */
    private readonly onNoLongerAlone: () => void = () => undefined,
    readonly maxMembers = DEFAULT_MAX_MEMBERS,
    /** The clock of state changes and reaping, and the timers of suspicions. */
    private readonly time: GossipTime = SYSTEM_TIME,
  ) {
    this.liveChangedAtMs = time.now();
  }

  get(id: string): Member | undefined {
    return this.members.get(id);
  }

  /** A copy: safe to keep or sort. */
  all(): Member[] {
    return [...this.members.values()];
  }

  /** Every member, this node included, without a copy (for one pass; do not change the table meanwhile). */
  values(): IterableIterator<Member> {
    return this.members.values();
  }

  /** Members that count for the cluster size: alive and suspect, this node included (always). */
  liveCount(): number {
    return this.othersLive + 1;
  }

  /** When a member last came or went (ms since the epoch). */
  get liveChangedAt(): number {
    return this.liveChangedAtMs;
  }

  /** Adds this node itself (always alive in its own table). */
  addSelf(record: NodeRecord, incarnation: number): Member {
    const self: Member = { record, incarnation, state: 'alive', stateChangedAt: this.time.now() };
    this.members.set(record.id, self);
    return self;
  }

  /**
   * "`record` is alive at `incarnation`". New nodes join; a higher incarnation overrides any state
   * (that is how a suspect refutes and how a dead node comes back).
   */
  applyAlive(record: NodeRecord, incarnation: number): Outcome {
    const known = this.members.get(record.id);
    if (record.id === this.selfId) {
      // Someone holds a newer or different view of us (we restarted): take an incarnation above it.
      if (!known) return nothing();
      const stale =
        incarnation > known.incarnation ||
        (incarnation === known.incarnation && !sameRecord(record, known.record));
      return stale ? { ...nothing(), refuteWith: incarnation + 1 } : nothing();
    }
    if (!known) {
      if (this.members.size >= this.maxMembers) return { ...nothing(), refused: true };
      const member: Member = { record, incarnation, state: 'alive', stateChangedAt: this.time.now() };
      this.members.set(record.id, member);
      this.countLive();
      return { events: [{ type: 'node-join', member }], rebroadcast: true };
    }
    if (incarnation <= known.incarnation) return nothing();
    const wasGone = known.state === 'dead' || known.state === 'left';
    const changed = !sameRecord(record, known.record);
    known.suspicion?.cancel();
    known.suspicion = undefined;
    const wasAlive = known.state === 'alive';
    Object.assign(known, { record, incarnation, state: 'alive' as const });
    if (wasGone) this.countLive();
    if (!wasAlive) known.stateChangedAt = this.time.now();
    const events: MembershipEvent[] = wasGone
      ? [{ type: 'node-join', member: known }]
      : changed || !wasAlive
        ? [{ type: 'node-update', member: known }]
        : [];
    return { events, rebroadcast: true };
  }

  /** "`nodeId` is suspected at `incarnation` by `fromId`". */
  applySuspect(nodeId: string, incarnation: number, fromId: string): Outcome {
    const known = this.members.get(nodeId);
    if (!known || incarnation < known.incarnation || known.state === 'dead' || known.state === 'left')
      return nothing();
    if (nodeId === this.selfId)
      return { ...nothing(), refuteWith: Math.max(incarnation, known.incarnation) + 1 };
    if (known.state === 'suspect') {
      // Lifeguard: an independent confirmation shortens the timer, and is worth re-gossiping.
      return { events: [], rebroadcast: known.suspicion?.confirm(fromId) ?? false };
    }
    known.incarnation = incarnation;
    known.state = 'suspect';
    known.stateChangedAt = this.time.now();
    known.suspicion = this.startSuspicion(known, fromId);
    return { events: [{ type: 'node-suspect', member: known }], rebroadcast: true };
  }

  /** "`nodeId` is dead at `incarnation`", or left when `fromId` is the node itself. */
  applyDead(nodeId: string, incarnation: number, fromId: string): Outcome {
    const known = this.members.get(nodeId);
    if (!known || incarnation < known.incarnation || known.state === 'dead' || known.state === 'left')
      return nothing();
    const leaving = fromId === nodeId;
    if (nodeId === this.selfId) {
      // (Our own leave coming back to us stopped above: we are `left` then.) A leave while we are
      // not leaving is an earlier run of this node's (stopped, then started again before the
      // cluster forgot it): refuted like a death, or the others would hold us as left until they
      // reap us.
      return { ...nothing(), refuteWith: Math.max(incarnation, known.incarnation) + 1 };
    }
    known.suspicion?.cancel();
    known.suspicion = undefined;
    known.incarnation = incarnation;
    known.state = leaving ? 'left' : 'dead';
    this.othersLive--;
    this.liveChangedAtMs = this.time.now();
    known.stateChangedAt = this.time.now();
    return { events: [{ type: leaving ? 'node-leave' : 'node-dead', member: known }], rebroadcast: true };
  }

  /** Forgets dead and left members older than `olderThanMs`; returns how many. */
  reap(olderThanMs: number): number {
    const cutoff = this.time.now() - olderThanMs;
    let reaped = 0;
    for (const [id, member] of this.members) {
      if (
        id !== this.selfId &&
        (member.state === 'dead' || member.state === 'left') &&
        member.stateChangedAt < cutoff
      ) {
        this.members.delete(id);
        reaped++;
      }
    }
    return reaped;
  }

  stopTimers(): void {
    for (const member of this.members.values()) member.suspicion?.cancel();
  }

  /** One more other member alive: the first one ends this node's time alone. */
  private countLive(): void {
    this.liveChangedAtMs = this.time.now();
    if (this.othersLive++ === 0) this.onNoLongerAlone();
  }

  private startSuspicion(member: Member, fromId: string): Suspicion {
    const clusterSize = this.liveCount();
    // Expected independent confirmations: SuspicionMult - 2 in memberlist, but never fewer than two
    // (a multiplier of 3 would otherwise let a single confirmation bring the timer to its minimum),
    // and at most the other members.
    // (A suspicion starts on a live member, so clusterSize is at least 2.)
    const expected = Math.min(Math.max(MIN_CONFIRMATIONS, this.suspicion.multiplier - 2), clusterSize - 2);
    const minMs = suspicionMinTimeout(this.suspicion.multiplier, clusterSize, this.suspicion.probeIntervalMs);
    return new Suspicion(
      fromId,
      expected,
      minMs,
      minMs * this.suspicion.maxMultiplier,
      () => this.onSuspicionTimeout(member),
      this.time,
    );
  }
}

/**
 * Whether two records say the same, check summaries aside: a summary changes without a new
 * incarnation (check deltas carry it, engine.setCheckSummary), so a copy of this node's record
 * with an older summary is no reason to refute, nor a summary alone a reason for `node-update`.
 */
function sameRecord(a: NodeRecord, b: NodeRecord): boolean {
  return JSON.stringify({ ...a, checks: undefined }) === JSON.stringify({ ...b, checks: undefined });
}
