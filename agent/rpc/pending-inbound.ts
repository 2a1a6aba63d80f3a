// Limits the inbound cluster RPC connections still in their handshake (pending: accepted, not yet
// upgraded to an encrypted, multiplexed connection), per source and in total, so that no set of
// sources can hold the port shut for the nodes that have the key. A source is an IPv4 address, or
// an IPv6 /64 (source-bucket.ts): agents sharing one host on 127.0.0.x all dial from 127.0.0.1,
// while an attacker on the same /8 has an address of its own.
//
// When every slot is taken, a newcomer takes the oldest slot of the source holding the most,
// provided that source keeps at least as many as the newcomer's own source then holds; the
// connection that held it is aborted. So the slots are shared out evenly between the sources that
// want them, and a source holding fewer than another is never kept out. A node with the key gets
// a slot however many addresses an attacker fills the others from, and needs it only for its
// handshake (milliseconds); an attacker's silent connection holds one until the deadline or
// until a newcomer needs it, whichever comes first.
//
// libp2p counts pending connections itself (connectionManager.maxIncomingPendingConnections), but
// in total only; the per-source count lives here, fed by the connection gater's hooks. A slot is
// given back exactly once, whichever comes first: the upgrade finishes
// (denyInboundUpgradedConnection), the raw connection closes (the handshake failed or timed out,
// and libp2p aborted it; or the remote went away), or a newcomer takes it (eviction).
import type { ConnectionGater, MultiaddrConnection } from '@libp2p/interface';
import { refusalNote, type RefusalReason } from './handshake.js';
import { sourceBucket } from './source-bucket.js';

export interface PendingInboundLimits {
  /** Pending connections one source (IPv4 address, IPv6 /64) may have at a time. */
  perAddress: number;
  /** Pending connections from all sources together. */
  total: number;
}

export type Admission = { admitted: true; release: () => void } | { admitted: false; reason: RefusalReason };

/** One pending connection's slot. */
interface PendingSlot {
  readonly bucket: string;
  /** Admission order, so the oldest slot of a source is known (the lowest). */
  readonly sequence: number;
  /** Given back already: a later release (the connection's close after an eviction) is a no-op. */
  released: boolean;
  /** Ends the connection that held the slot when a newcomer takes it. */
  readonly onEvicted: () => void;
}

/**
 * The counting, without libp2p: admit() takes a slot (taking one from another source when all
 * are taken, see the top of this file), the release it returns gives it back.
 */
export class PendingInboundLimiter {
  /** Each source's slots, oldest first (a Set iterates in insertion order). */
  private readonly slotsByBucket = new Map<string, Set<PendingSlot>>();
  private pendingTotal = 0;
  private nextSequence = 0;
  private evictedTotal = 0;

  constructor(readonly limits: PendingInboundLimits) {}

  /**
   * A slot for a connection from `address`, or the limit that refuses it. `onEvicted` is called
   * (once, after the slot is given back) if a newcomer later takes the slot; it should abort the
   * connection.
   */
  admit(address: string, onEvicted: () => void = () => undefined): Admission {
    const bucket = sourceBucket(address);
    const held = this.slotsByBucket.get(bucket)?.size ?? 0;
    if (held >= this.limits.perAddress) return { admitted: false, reason: 'address' };
    let victim: PendingSlot | undefined;
    if (this.pendingTotal >= this.limits.total) {
      victim = this.victimFor(held);
      if (victim === undefined) return { admitted: false, reason: 'total' };
      this.free(victim);
      this.evictedTotal++;
    }
    const slot: PendingSlot = { bucket, sequence: this.nextSequence++, released: false, onEvicted };
    const slots = this.slotsByBucket.get(bucket) ?? new Set<PendingSlot>();
    slots.add(slot);
    this.slotsByBucket.set(bucket, slots);
    this.pendingTotal++;
    // Last: the callback may close the connection, whose close handler releases (a no-op now).
    victim?.onEvicted();
    return { admitted: true, release: () => this.free(slot) };
  }

  /** Pending connections from the source of `address`, or from everyone (diagnostics and tests). */
  pending(address?: string): number {
    if (address === undefined) return this.pendingTotal;
    return this.slotsByBucket.get(sourceBucket(address))?.size ?? 0;
  }

  /** Slots taken from a pending connection to admit a newcomer, since the start. */
  evictions(): number {
    return this.evictedTotal;
  }

  /**
   * The slot a newcomer from a source holding `newcomerHolds` may take: the oldest of the source
   * holding the most (of those holding the most, the one with the oldest slot), unless that
   * source would be left with fewer than the newcomer's holds now.
   */
  private victimFor(newcomerHolds: number): PendingSlot | undefined {
    let victim: PendingSlot | undefined;
    let victimHolds = 0;
    for (const slots of this.slotsByBucket.values()) {
      const oldest = slots.values().next().value;
      if (oldest === undefined) continue;
      if (
        slots.size > victimHolds ||
        (slots.size === victimHolds && victim !== undefined && oldest.sequence < victim.sequence)
      ) {
        victim = oldest;
        victimHolds = slots.size;
      }
    }
    return victimHolds - 1 >= newcomerHolds ? victim : undefined;
  }

  private free(slot: PendingSlot): void {
    if (slot.released) return;
    slot.released = true;
    this.pendingTotal--;
    const slots = this.slotsByBucket.get(slot.bucket);
    slots?.delete(slot);
    if (slots?.size === 0) this.slotsByBucket.delete(slot.bucket);
  }
}

/**
 * The connection gater that applies the limiter to libp2p's inbound connections. A refused
 * connection gets a short note saying which limit turned it away (read by our own dialer, see
 * handshake.ts), then a graceful close: libp2p would reset it, and a reset that reaches the
 * dialer before it has seen its connect complete (loopback) takes the note with it. A connection
 * whose slot a newcomer takes is aborted: it has had our nonce already, so a note would be
 * misread, and an attacker's connection deserves no more.
 */
export function pendingInboundGater(limiter: PendingInboundLimiter): ConnectionGater {
  const releases = new WeakMap<MultiaddrConnection, () => void>();
  const releaseOf = (maConn: MultiaddrConnection): void => {
    releases.get(maConn)?.();
    releases.delete(maConn);
  };
  const evict = (maConn: MultiaddrConnection): void => {
    releases.delete(maConn);
    try {
      maConn.abort(
        new Error('pending-connection slot given to a newcomer from a source holding fewer slots'),
      );
    } catch {
      // Closed already: nothing more to end.
    }
  };
  return {
    denyInboundConnection: async (maConn) => {
      // Closed before we saw it: its 'close' event has passed, so it must not take a slot.
      if (maConn.status !== 'open') return true;
      const admission = limiter.admit(remoteAddress(maConn), () => evict(maConn));
      if (!admission.admitted) {
        await refuse(maConn, refusalNote(admission.reason, limiter.limits));
        return true;
      }
      releases.set(maConn, admission.release);
      maConn.addEventListener('close', () => releaseOf(maConn), { once: true });
      return false;
    },
    denyInboundUpgradedConnection: (_peer, maConn) => {
      releaseOf(maConn);
      return false;
    },
  };
}

/** The remote IP address of a connection (the whole multiaddr when it has none). */
export function remoteAddress(maConn: MultiaddrConnection): string {
  const ip = maConn.remoteAddr.getComponents().find((part) => part.name === 'ip4' || part.name === 'ip6');
  return ip?.value ?? maConn.remoteAddr.toString();
}

/** Sends the note and closes; bounded by libp2p's upgrade deadline, which aborts the connection. */
async function refuse(maConn: MultiaddrConnection, note: Uint8Array): Promise<void> {
  try {
    maConn.send(note);
    await maConn.close();
  } catch {
    // Closed or reset already: the remote learns nothing more than a closed connection.
  }
}
