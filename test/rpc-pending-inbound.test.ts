// The pending-connection limiter of the cluster RPC (agent/rpc/pending-inbound.ts) and the note a
// refused connection gets (agent/rpc/handshake.ts), without sockets: the counting, and the gater's
// hooks driven the way libp2p drives them, on every path a pending connection can end.
import type { MultiaddrConnection } from '@libp2p/interface';
import { multiaddr } from '@multiformats/multiaddr';
import { describe, expect, it } from 'vitest';
import { parseRefusalNote, refusalNote } from '../agent/rpc/handshake.js';
import { pendingInboundGater, PendingInboundLimiter, remoteAddress } from '../agent/rpc/pending-inbound.js';

/** Enough of a libp2p MultiaddrConnection for the gater: status, remote address, send, close. */
class FakeConnection extends EventTarget {
  status: 'open' | 'closing' | 'closed' = 'open';
  readonly sent: Uint8Array[] = [];
  readonly remoteAddr;

  constructor(address: string) {
    super();
    this.remoteAddr = multiaddr(
      address.includes(':') ? `/ip6/${address}/tcp/4001` : `/ip4/${address}/tcp/4001`,
    );
  }

  send(bytes: Uint8Array): boolean {
    this.sent.push(bytes);
    return true;
  }

  close(): Promise<void> {
    this.end();
    return Promise.resolve();
  }

  /** The raw connection ends: closed by either side, reset, or aborted by libp2p. */
  end(): void {
    if (this.status === 'closed') return;
    this.status = 'closed';
    this.dispatchEvent(new Event('close'));
  }

  get asMaConn(): MultiaddrConnection {
    return this as unknown as MultiaddrConnection;
  }
}

function gaterWith(limits: { perAddress: number; total: number }) {
  const limiter = new PendingInboundLimiter(limits);
  const gater = pendingInboundGater(limiter);
  const deny = (connection: FakeConnection): Promise<boolean> =>
    Promise.resolve(gater.denyInboundConnection!(connection.asMaConn));
  const upgraded = (connection: FakeConnection): Promise<boolean> =>
    Promise.resolve(gater.denyInboundUpgradedConnection!({} as never, connection.asMaConn));
  return { limiter, deny, upgraded };
}

describe('PendingInboundLimiter', () => {
  it('admits up to the per-address limit and the total, and says which one refused', () => {
    const limiter = new PendingInboundLimiter({ perAddress: 2, total: 3 });
    const a1 = limiter.admit('10.0.0.1');
    const a2 = limiter.admit('10.0.0.1');
    expect(limiter.admit('10.0.0.1')).toEqual({ admitted: false, reason: 'address' });
    const b1 = limiter.admit('10.0.0.2');
    expect(limiter.admit('10.0.0.3')).toEqual({ admitted: false, reason: 'total' });
    expect([a1.admitted, a2.admitted, b1.admitted]).toEqual([true, true, true]);
    expect(limiter.pending()).toBe(3);
    expect(limiter.pending('10.0.0.1')).toBe(2);
    if (!a1.admitted || !b1.admitted) throw new Error('unreachable');
    a1.release();
    a1.release(); // twice gives back one slot only
    expect(limiter.pending('10.0.0.1')).toBe(1);
    expect(limiter.pending()).toBe(2);
    expect(limiter.admit('10.0.0.3').admitted).toBe(true);
    b1.release();
    expect(limiter.pending('10.0.0.2')).toBe(0);
  });
});

describe('the pending-connection gater', () => {
  it('gives the slot back when the raw connection closes (failed, timed out, or the remote left)', async () => {
    const { limiter, deny } = gaterWith({ perAddress: 2, total: 10 });
    const connection = new FakeConnection('127.0.0.9');
    expect(await deny(connection)).toBe(false);
    expect(limiter.pending('127.0.0.9')).toBe(1);
    connection.end();
    expect(limiter.pending()).toBe(0);
  });

  it('gives the slot back when the upgrade finishes, once, even when the connection closes later', async () => {
    const { limiter, deny, upgraded } = gaterWith({ perAddress: 2, total: 10 });
    const first = new FakeConnection('127.0.0.9');
    const second = new FakeConnection('127.0.0.9');
    expect(await deny(first)).toBe(false);
    expect(await deny(second)).toBe(false);
    expect(await upgraded(first)).toBe(false);
    expect(limiter.pending('127.0.0.9')).toBe(1);
    first.end(); // the upgraded connection ends much later: not a second release
    expect(limiter.pending('127.0.0.9')).toBe(1);
    expect(await upgraded(first)).toBe(false);
    expect(limiter.pending('127.0.0.9')).toBe(1);
    second.end();
    expect(limiter.pending()).toBe(0);
  });

  it('refuses past the limit with a note and a close, without counting the refused connection', async () => {
    const { limiter, deny } = gaterWith({ perAddress: 1, total: 2 });
    const held = new FakeConnection('127.0.0.9');
    expect(await deny(held)).toBe(false);
    const refused = new FakeConnection('127.0.0.9');
    expect(await deny(refused)).toBe(true);
    expect(refused.sent).toEqual([refusalNote('address', { perAddress: 1, total: 2 })]);
    expect(refused.status).toBe('closed');
    expect(limiter.pending('127.0.0.9')).toBe(1);

    const other = new FakeConnection('127.0.0.10');
    expect(await deny(other)).toBe(false);
    const overTotal = new FakeConnection('127.0.0.11');
    expect(await deny(overTotal)).toBe(true);
    expect(parseRefusalNote(overTotal.sent[0]!)).toEqual({ reason: 'total', limit: 2 });
    expect(limiter.pending()).toBe(2);
    held.end();
    other.end();
    expect(limiter.pending()).toBe(0);
  });

  it('does not count a connection that closed before the gater saw it (its close event has passed)', async () => {
    const { limiter, deny } = gaterWith({ perAddress: 1, total: 1 });
    const gone = new FakeConnection('127.0.0.9');
    gone.end();
    expect(await deny(gone)).toBe(true);
    expect(gone.sent).toEqual([]);
    expect(limiter.pending()).toBe(0);
    expect(await deny(new FakeConnection('127.0.0.9'))).toBe(false);
  });

  it('counts per IP address, whatever the port, IPv4 and IPv6 alike', () => {
    expect(remoteAddress(new FakeConnection('127.0.0.9').asMaConn)).toBe('127.0.0.9');
    expect(remoteAddress(new FakeConnection('2001:db8::1').asMaConn)).toBe('2001:db8::1');
  });
});

describe('the refusal note', () => {
  it('says which limit refused, and is shorter than a private-network nonce (24 bytes)', () => {
    const note = refusalNote('address', { perAddress: 16, total: 64 });
    expect(new TextDecoder().decode(note)).toBe('opsbro-busy a 16\n');
    expect(parseRefusalNote(note)).toEqual({ reason: 'address', limit: 16 });
    expect(parseRefusalNote(refusalNote('total', { perAddress: 16, total: 64 }))).toEqual({
      reason: 'total',
      limit: 64,
    });
    // A limit too long to fit is left out rather than making the note as long as a nonce.
    const huge = refusalNote('total', { perAddress: 1, total: 10 ** 12 });
    expect(huge.byteLength).toBeLessThan(24);
    expect(parseRefusalNote(huge)).toEqual({ reason: 'total' });
  });

  it('is not found in bytes that are not a note', () => {
    expect(parseRefusalNote(new Uint8Array(0))).toBeUndefined();
    expect(parseRefusalNote(new TextEncoder().encode('opsbro-busy x 1\n'))).toBeUndefined();
    expect(parseRefusalNote(new TextEncoder().encode('opsbro-busy a 16\nmore'))).toBeUndefined();
    expect(parseRefusalNote(new TextEncoder().encode('opsbro-busy a 1234567890\n'))).toBeUndefined();
  });
});
