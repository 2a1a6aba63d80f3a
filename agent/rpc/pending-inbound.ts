// Limits the inbound cluster RPC connections still in their handshake (pending: accepted, not yet
// upgraded to an encrypted, multiplexed connection), per remote address and in total, so that one
// address cannot take every slot and hold the port shut for the nodes that have the key.
// Per address, not per network range: agents sharing one host on 127.0.0.x all dial from
// 127.0.0.1, while an attacker on the same /8 has an address of its own.
//
// libp2p counts pending connections itself (connectionManager.maxIncomingPendingConnections), but
// in total only; the per-address count lives here, fed by the connection gater's hooks. A slot is
// given back exactly once, whichever comes first: the upgrade finishes
// (denyInboundUpgradedConnection), or the raw connection closes (the handshake failed or timed
// out, and libp2p aborted it; or the remote went away).
import type { ConnectionGater, MultiaddrConnection } from '@libp2p/interface';
import { refusalNote, type RefusalReason } from './handshake.js';

export interface PendingInboundLimits {
  /** Pending connections one remote address may have at a time. */
  perAddress: number;
  /** Pending connections from all addresses together. */
  total: number;
}

export type Admission = { admitted: true; release: () => void } | { admitted: false; reason: RefusalReason };

/** The counting, without libp2p: admit() takes a slot, the release it returns gives it back. */
export class PendingInboundLimiter {
  private readonly pendingByAddress = new Map<string, number>();
  private pendingTotal = 0;

  constructor(readonly limits: PendingInboundLimits) {}

  admit(address: string): Admission {
    const fromAddress = this.pendingByAddress.get(address) ?? 0;
    if (fromAddress >= this.limits.perAddress) return { admitted: false, reason: 'address' };
    if (this.pendingTotal >= this.limits.total) return { admitted: false, reason: 'total' };
    this.pendingByAddress.set(address, fromAddress + 1);
    this.pendingTotal++;
    let released = false;
    return {
      admitted: true,
      release: () => {
        if (released) return;
        released = true;
        this.pendingTotal--;
        const left = (this.pendingByAddress.get(address) ?? 1) - 1;
        if (left === 0) this.pendingByAddress.delete(address);
        else this.pendingByAddress.set(address, left);
      },
    };
  }

  /** Pending connections from `address`, or from everyone (diagnostics and tests). */
  pending(address?: string): number {
    return address === undefined ? this.pendingTotal : (this.pendingByAddress.get(address) ?? 0);
  }
}

/**
 * The connection gater that applies the limiter to libp2p's inbound connections. A refused
 * connection gets a short note saying which limit turned it away (read by our own dialer, see
 * handshake.ts), then a graceful close: libp2p would reset it, and a reset that reaches the
 * dialer before it has seen its connect complete (loopback) takes the note with it.
 */
export function pendingInboundGater(limiter: PendingInboundLimiter): ConnectionGater {
  const releases = new WeakMap<MultiaddrConnection, () => void>();
  const releaseOf = (maConn: MultiaddrConnection): void => {
    releases.get(maConn)?.();
    releases.delete(maConn);
  };
  return {
    denyInboundConnection: async (maConn) => {
      // Closed before we saw it: its 'close' event has passed, so it must not take a slot.
      if (maConn.status !== 'open') return true;
      const admission = limiter.admit(remoteAddress(maConn));
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
