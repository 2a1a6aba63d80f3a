// Push-pull protocol 2 (agent/gossip/push-pull.ts), its pure parts: the digest and its hash, what
// an exchange carries, and the codec's round trips and refusals. Two real agents trading it over
// the cluster RPC are in push-pull-agents.test.ts.
import { randomUUID } from 'node:crypto';
import { encode } from '@msgpack/msgpack';
import { describe, expect, it } from 'vitest';
import { EMPTY_SUMMARY } from '../../agent/gossip/check-codec.js';
import { DecodeError, type StateEntry } from '../../agent/gossip/codec.js';
import {
  decodeReply,
  decodeRequest,
  differingIds,
  digestHash,
  digestOf,
  encodeReply,
  encodeRequest,
  exchangeFor,
  hashMatches,
  type PushPullReply,
  type PushPullRequest,
} from '../../agent/gossip/push-pull.js';
import { record } from './memory-cluster.js';

const entry = (i: number, changes: Partial<StateEntry> = {}, checksVersion = 0): StateEntry => ({
  record: record(i, { checks: { ...EMPTY_SUMMARY, version: checksVersion } }),
  incarnation: 1,
  state: 'alive',
  ...changes,
});
const cluster = (): StateEntry[] => [entry(1), entry(2), entry(3)];
const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');

describe('push-pull digest', () => {
  it('hashes the same view the same, whatever the order, in 16 bytes', () => {
    const a = digestHash(digestOf(cluster()));
    expect(a).toHaveLength(16);
    expect(hex(digestHash(digestOf(cluster().reverse())))).toBe(hex(a));
    expect(hashMatches(digestOf(cluster().reverse()), a)).toBe(true);
    expect(hashMatches(digestOf([entry(1)]), a)).toBe(false);
  });

  it.each([
    ['incarnation', [entry(1), entry(2, { incarnation: 2 }), entry(3)]],
    ['state', [entry(1), entry(2, { state: 'suspect' }), entry(3)]],
    ['check summary version', [entry(1), entry(2, {}, 7), entry(3)]],
    ['a member fewer', [entry(1), entry(2)]],
    ['a member more', [...cluster(), entry(4)]],
  ])('tells views apart by %s', (_what, other) => {
    expect(hex(digestHash(digestOf(other)))).not.toBe(hex(digestHash(digestOf(cluster()))));
  });

  it('finds the members whose entries differ or that one side lacks', () => {
    const local = [entry(1), entry(2, { incarnation: 5 }), entry(3)];
    const remote = [entry(1), entry(2), entry(4)];
    expect([...differingIds(digestOf(local), digestOf(remote))].sort()).toEqual(
      [record(2).id, record(3).id, record(4).id].sort(),
    );
    expect(differingIds(digestOf(cluster()), digestOf(cluster())).size).toBe(0);
  });

  it('exchanges full records only for the differing members, and asks for the ones the other side has', () => {
    const local = [entry(1), entry(2, { incarnation: 5 }), entry(3)];
    const remote = [entry(1), entry(2), entry(4)];
    const exchange = exchangeFor('me', local, digestOf(remote));
    expect(exchange?.entries.map((e) => e.record.id).sort()).toEqual([record(2).id, record(3).id].sort());
    expect(exchange?.wanted.sort()).toEqual([record(2).id, record(4).id].sort());
    expect(exchangeFor('me', cluster(), digestOf(cluster()))).toBeUndefined();
  });

  it('is much smaller than the full state once in sync', () => {
    // Records as agents send them: a peer id, a key fingerprint, a few groups.
    const big = Array.from({ length: 50 }, (_, i) => ({
      ...entry(i + 1),
      record: record(i + 1, {
        peerId: `12D3KooW${'x'.repeat(44)}`,
        keys: ['a1b2c3d4e5f60718'],
        primaryKey: 'a1b2c3d4e5f60718',
        groups: ['linux', 'debian', 'web'],
        version: '0.1.0',
      }),
    }));
    const [n1, n2] = [randomUUID(), randomUUID()];
    const offer = encodeRequest({ kind: 'offer', fromId: n1, hash: digestHash(digestOf(big)) });
    const full = encodeRequest({ kind: 'offer', fromId: n1, hash: digestHash(digestOf(big)), entries: big });
    // A node id is a UUID (36 characters): most of both messages.
    expect(offer.length).toBeLessThan(70);
    expect(encodeReply({ kind: 'same', fromId: n2 }).length).toBeLessThan(50);
    // A digest still costs far less than the records it stands for.
    const digest = encodeReply({ kind: 'digest', fromId: n2, digest: digestOf(big) });
    expect(digest.length * 3).toBeLessThan(full.length);
  });
});

describe('push-pull codec', () => {
  const hash = new Uint8Array(16).fill(7);

  it('round-trips every request and reply', () => {
    const requests: PushPullRequest[] = [
      { kind: 'offer', fromId: 'n1', hash },
      { kind: 'offer', fromId: 'n1', hash, entries: cluster() },
      {
        kind: 'exchange',
        fromId: 'n1',
        entries: [entry(2, { state: 'dead', incarnation: 3 })],
        wanted: ['n4'],
      },
    ];
    for (const request of requests) expect(decodeRequest(encodeRequest(request))).toEqual(request);
    const replies: PushPullReply[] = [
      { kind: 'same', fromId: 'n2' },
      { kind: 'digest', fromId: 'n2', digest: digestOf([entry(1, { state: 'left' }, 4)]) },
      { kind: 'state', fromId: 'n2', entries: cluster() },
    ];
    for (const reply of replies) expect(decodeReply(encodeReply(reply))).toEqual(reply);
  });

  it.each([
    ['not msgpack', Buffer.from([0xc1])],
    ['protocol 1', encode([1, 'n1', []])],
    ['an unknown kind', encode([2, 'gimme', 'n1', hash, null])],
    ['a short hash', encode([2, 'offer', 'n1', new Uint8Array(4), null])],
    ['an offer without its entries field', encode([2, 'offer', 'n1', hash])],
    ['a bad entry', encode([2, 'exchange', 'n1', [[1, 2]], []])],
    ['a wanted id that is not a string', encode([2, 'exchange', 'n1', [], [42]])],
  ])('refuses a request with %s', (_what, bytes) => {
    expect(() => decodeRequest(bytes)).toThrow(DecodeError);
  });

  it.each([
    ['a digest entry of the wrong shape', encode([2, 'digest', 'n2', [['n1', 1, 0]]])],
    ['a digest state out of range', encode([2, 'digest', 'n2', [['n1', 1, 9, 0, 0]]])],
    ['a negative incarnation', encode([2, 'digest', 'n2', [['n1', -1, 0, 0, 0]]])],
    ['a same with extra fields', encode([2, 'same', 'n2', 'x'])],
    ['no sender', encode([2, 'same'])],
  ])('refuses a reply with %s', (_what, bytes) => {
    expect(() => decodeReply(bytes)).toThrow(DecodeError);
  });
});
