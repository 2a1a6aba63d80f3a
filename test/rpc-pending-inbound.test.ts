// The pending-connection limiter of the cluster RPC (agent/rpc/pending-inbound.ts), the sources it
// counts in (agent/rpc/source-bucket.ts) and the note a refused connection gets
// (agent/rpc/handshake.ts), without sockets: the counting, the eviction when every slot is taken,
// and the gater's hooks driven the way libp2p drives them, on every path a pending connection can end.
import type { MultiaddrConnection } from '@libp2p/interface';
import { multiaddr } from '@multiformats/multiaddr';
import { describe, expect, it } from 'vitest';
import { parseRefusalNote, refusalNote } from '../agent/rpc/handshake.js';
import {
  pendingInboundGater,
  PendingInboundLimiter,
  remoteAddress,
  type Admission,
} from '../agent/rpc/pending-inbound.js';
import { sourceBucket } from '../agent/rpc/source-bucket.js';

/** Enough of a libp2p MultiaddrConnection for the gater: status, remote address, send, close. */
class FakeConnection extends EventTarget {
  status: 'open' | 'closing' | 'closed' = 'open';
  readonly sent: Uint8Array[] = [];
  /** Why the gater aborted it (its slot was given to a newcomer). */
  abortedWith: Error | undefined;
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

  abort(error: Error): void {
    this.abortedWith = error;
    this.end();
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
  it('admits up to the per-address limit, refuses past it, and gives a slot back once', () => {
    const limiter = new PendingInboundLimiter({ perAddress: 2, total: 3 });
    const a1 = limiter.admit('10.0.0.1');
    const a2 = limiter.admit('10.0.0.1');
    expect(limiter.admit('10.0.0.1')).toEqual({ admitted: false, reason: 'address' });
    const b1 = limiter.admit('10.0.0.2');
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

/** Admits and fails the test if refused; records the eviction of the slot in `evicted`. */
function admitted(limiter: PendingInboundLimiter, address: string, name: string, evicted: string[]) {
  const admission: Admission = limiter.admit(address, () => evicted.push(name));
  if (!admission.admitted) throw new Error(`${name} from ${address} refused (${admission.reason})`);
  return admission;
}

describe('PendingInboundLimiter when every slot is taken', () => {
  it('takes the oldest slot of the source holding the most, not the oldest slot of all', () => {
    const limiter = new PendingInboundLimiter({ perAddress: 4, total: 6 });
    const evicted: string[] = [];
    admitted(limiter, '10.0.0.2', 'b1', evicted); // the oldest of all
    admitted(limiter, '10.0.0.2', 'b2', evicted);
    const a1 = admitted(limiter, '10.0.0.1', 'a1', evicted);
    admitted(limiter, '10.0.0.1', 'a2', evicted);
    admitted(limiter, '10.0.0.1', 'a3', evicted);
    admitted(limiter, '10.0.0.3', 'c1', evicted);
    expect(limiter.pending()).toBe(6);

    admitted(limiter, '10.0.0.4', 'd1', evicted);
    expect(evicted).toEqual(['a1']);
    expect(limiter.pending('10.0.0.1')).toBe(2);
    expect(limiter.pending('10.0.0.4')).toBe(1);
    expect(limiter.pending()).toBe(6);
    expect(limiter.evictions()).toBe(1);
    // The evicted connection closes later, and its release runs then: the slot is not given twice.
    a1.release();
    a1.release();
    expect(limiter.pending('10.0.0.1')).toBe(2);
    expect(limiter.pending()).toBe(6);

    // A tie between the sources holding the most (a: 2, b: 2): the one with the oldest slot (b1).
    admitted(limiter, '10.0.0.5', 'e1', evicted);
    expect(evicted).toEqual(['a1', 'b1']);
    expect(limiter.pending('10.0.0.2')).toBe(1);
  });

  it("never leaves the source it takes from with fewer slots than the newcomer's source holds", () => {
    const limiter = new PendingInboundLimiter({ perAddress: 4, total: 3 });
    const evicted: string[] = [];
    admitted(limiter, '10.0.0.1', 'a1', evicted);
    admitted(limiter, '10.0.0.1', 'a2', evicted);
    admitted(limiter, '10.0.0.2', 'b1', evicted);
    // a holds the most already: taking from anyone would leave them with fewer than a.
    expect(limiter.admit('10.0.0.1', () => evicted.push('a3'))).toEqual({ admitted: false, reason: 'total' });
    expect(evicted).toEqual([]);
    // b (1) may take one of a's (2): a is left with 1, as many as b holds now.
    admitted(limiter, '10.0.0.2', 'b2', evicted);
    expect(evicted).toEqual(['a1']);
    // Now b holds 2 and a 1: a may take b's oldest back, but a third source (0) may too.
    admitted(limiter, '10.0.0.3', 'c1', evicted);
    expect(evicted).toEqual(['a1', 'b1']);
    // One slot each: a newcomer from any of them would leave another with 0 < 1.
    for (const address of ['10.0.0.1', '10.0.0.2', '10.0.0.3']) {
      expect(limiter.admit(address)).toEqual({ admitted: false, reason: 'total' });
    }
    // A source holding none still gets one, from the oldest (a2).
    admitted(limiter, '10.0.0.4', 'd1', evicted);
    expect(evicted).toEqual(['a1', 'b1', 'a2']);
    expect(limiter.pending()).toBe(3);
  });

  it('gives a source that holds none a slot against any number of sources', () => {
    const limiter = new PendingInboundLimiter({ perAddress: 16, total: 64 });
    const evicted: string[] = [];
    for (let index = 0; index < 64; index++) admitted(limiter, `10.1.0.${index}`, `x${index}`, evicted);
    for (let round = 0; round < 3; round++) {
      const keyed = admitted(limiter, '10.2.0.1', `keyed${round}`, evicted);
      expect(limiter.pending('10.2.0.1')).toBe(1);
      keyed.release(); // upgraded, within milliseconds
      // The attacker reconnects at once and takes the free slot back.
      admitted(limiter, `10.1.0.${round}`, `x${round}-again`, evicted);
      expect(limiter.pending()).toBe(64);
    }
    expect(evicted).toEqual(['x0', 'x1', 'x2']);
  });

  it('counts an IPv6 source by its /64: more addresses of the same /64 get no more slots', () => {
    const limiter = new PendingInboundLimiter({ perAddress: 2, total: 4 });
    const evicted: string[] = [];
    admitted(limiter, '2001:db8:1:2::1', 'p1', evicted);
    admitted(limiter, '2001:db8:1:2:ffff:ffff:ffff:ffff', 'p2', evicted);
    expect(limiter.admit('2001:db8:1:2::3')).toEqual({ admitted: false, reason: 'address' });
    expect(limiter.pending('2001:db8:1:2::99')).toBe(2);
    admitted(limiter, '2001:db8:1:3::1', 'q1', evicted);
    admitted(limiter, '10.0.0.1', 'v4', evicted);
    // Full: a newcomer from a fresh /64 takes from the /64 holding the most, however many
    // addresses it used.
    admitted(limiter, '2001:db8:9:9::1', 'r1', evicted);
    expect(evicted).toEqual(['p1']);
    expect(limiter.pending('2001:db8:1:2::1')).toBe(1);
  });
});

describe('sourceBucket', () => {
  it('is an IPv4 address itself, an IPv6 address its /64, a mapped IPv4 address the IPv4 one', () => {
    expect(sourceBucket('203.0.113.7')).toBe('203.0.113.7');
    expect(sourceBucket('2001:db8:1:2::1')).toBe('2001:db8:1:2::/64');
    expect(sourceBucket('2001:0db8:0001:0002:aaaa:bbbb:cccc:dddd')).toBe('2001:db8:1:2::/64');
    expect(sourceBucket('2001:db8::1')).toBe('2001:db8:0:0::/64');
    expect(sourceBucket('2001:db8:0:1::1')).toBe('2001:db8:0:1::/64');
    expect(sourceBucket('::1')).toBe('0:0:0:0::/64');
    expect(sourceBucket('fe80::1%eth0')).toBe('fe80:0:0:0::/64');
    expect(sourceBucket('64:ff9b::203.0.113.7')).toBe('64:ff9b:0:0::/64');
    expect(sourceBucket('::ffff:203.0.113.7')).toBe('203.0.113.7');
    expect(sourceBucket('::ffff:cb00:7107')).toBe('203.0.113.7');
    expect(sourceBucket('/unix/tmp/socket')).toBe('/unix/tmp/socket');
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
    const { limiter, deny } = gaterWith({ perAddress: 2, total: 2 });
    const held = new FakeConnection('127.0.0.9');
    const heldToo = new FakeConnection('127.0.0.9');
    expect(await deny(held)).toBe(false);
    expect(await deny(heldToo)).toBe(false);
    const refused = new FakeConnection('127.0.0.9');
    expect(await deny(refused)).toBe(true);
    expect(refused.sent).toEqual([refusalNote('address', { perAddress: 2, total: 2 })]);
    expect(refused.status).toBe('closed');
    expect(limiter.pending('127.0.0.9')).toBe(2);
    heldToo.end();

    // Every slot taken, one per source: a second from either would leave the other with none.
    const other = new FakeConnection('127.0.0.10');
    expect(await deny(other)).toBe(false);
    const overTotal = new FakeConnection('127.0.0.10');
    expect(await deny(overTotal)).toBe(true);
    expect(parseRefusalNote(overTotal.sent[0]!)).toEqual({ reason: 'total', limit: 2 });
    expect([held.status, other.status]).toEqual(['open', 'open']);
    expect(limiter.pending()).toBe(2);
    held.end();
    other.end();
    expect(limiter.pending()).toBe(0);
  });

  it('aborts the connection whose slot a newcomer takes, and gives that slot back once only', async () => {
    const { limiter, deny, upgraded } = gaterWith({ perAddress: 2, total: 3 });
    const older = new FakeConnection('127.0.0.9');
    const newer = new FakeConnection('127.0.0.9');
    const other = new FakeConnection('127.0.0.10');
    for (const connection of [older, newer, other]) expect(await deny(connection)).toBe(false);

    const keyed = new FakeConnection('127.0.0.1');
    expect(await deny(keyed)).toBe(false);
    expect(older.abortedWith?.message).toMatch(/slot given to a newcomer/);
    expect(older.status).toBe('closed'); // its close event has fired: no second release
    expect(older.sent).toEqual([]); // no note: it has had our nonce already
    expect([newer.abortedWith, other.abortedWith]).toEqual([undefined, undefined]);
    expect(limiter.pending('127.0.0.9')).toBe(1);
    expect(limiter.pending()).toBe(3);
    // libp2p's upgrade of the evicted connection fails; nothing reaches the upgraded hook, and if
    // something did, it would not release either.
    expect(await upgraded(older)).toBe(false);
    expect(limiter.pending()).toBe(3);

    expect(await upgraded(keyed)).toBe(false);
    keyed.end();
    newer.end();
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

  it('counts per IP address, whatever the port, IPv4 and IPv6 alike (an IPv6 one by its /64)', async () => {
    expect(remoteAddress(new FakeConnection('127.0.0.9').asMaConn)).toBe('127.0.0.9');
    expect(remoteAddress(new FakeConnection('2001:db8::1').asMaConn)).toBe('2001:db8::1');
    const { limiter, deny } = gaterWith({ perAddress: 1, total: 10 });
    const first = new FakeConnection('2001:db8:5:5::1');
    expect(await deny(first)).toBe(false);
    const sameNetwork = new FakeConnection('2001:db8:5:5::2');
    expect(await deny(sameNetwork)).toBe(true);
    expect(parseRefusalNote(sameNetwork.sent[0]!)).toEqual({ reason: 'address', limit: 1 });
    first.end();
    expect(limiter.pending()).toBe(0);
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
