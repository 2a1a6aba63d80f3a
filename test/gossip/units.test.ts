// The pure parts of gossip, alone: suspicion math, the broadcast queue, the replay window,
// the keyring, and the codec's refusal of anything malformed.
import { randomBytes } from 'node:crypto';
import { decode, encode } from '@msgpack/msgpack';
import { describe, expect, it } from 'vitest';
import { BroadcastQueue, BULK } from '../../agent/gossip/broadcast-queue.js';
import { EMPTY_SUMMARY } from '../../agent/gossip/check-codec.js';
import { pushPullInterval } from '../../agent/gossip/engine.js';
import {
  DecodeError,
  decodePacket,
  decodeStateExchange,
  encodeMessage,
  encodePacket,
  encodeStateExchange,
  MessageType,
} from '../../agent/gossip/codec.js';
import { fingerprint, Keyring, KeyringError, parseKey } from '../../agent/gossip/keyring.js';
import { MemberTable } from '../../agent/gossip/members.js';
import { ReplayGuard } from '../../agent/gossip/replay-guard.js';
import { remainingSuspicionTime, suspicionMinTimeout } from '../../agent/gossip/suspicion.js';
import { ManualTimers } from '../helpers/manual-timers.js';
import { record } from './memory-cluster.js';

describe('suspicion timeout (Lifeguard)', () => {
  it('starts at the maximum and reaches the minimum with the expected confirmations', () => {
    expect(remainingSuspicionTime(0, 3, 0, 2000, 30_000)).toBe(30_000);
    expect(remainingSuspicionTime(3, 3, 0, 2000, 30_000)).toBe(2000);
    // One of three: log(2)/log(4) = 0.5 of the way.
    expect(remainingSuspicionTime(1, 3, 0, 2000, 30_000)).toBe(16_000);
    expect(remainingSuspicionTime(1, 3, 5000, 2000, 30_000)).toBe(11_000);
    // Never below the minimum, and negative once elapsed.
    expect(remainingSuspicionTime(10, 3, 0, 2000, 30_000)).toBe(2000);
    expect(remainingSuspicionTime(3, 3, 2500, 2000, 30_000)).toBe(-500);
  });

  it('grows the minimum with log10 of the cluster size', () => {
    expect(suspicionMinTimeout(4, 1, 1000)).toBe(4000);
    expect(suspicionMinTimeout(4, 10, 1000)).toBe(4000);
    expect(suspicionMinTimeout(4, 100, 1000)).toBe(8000);
    expect(suspicionMinTimeout(4, 1000, 1000)).toBe(12_000);
  });
});

describe('broadcast queue', () => {
  const bytes = (size: number, fill = 1) => new Uint8Array(size).fill(fill);

  it('sends each message at most multiplier * ceil(log10(N+1)) times, fewest-sent first', () => {
    const queue = new BroadcastQueue(2, () => 9); // limit 2 * ceil(log10(10)) = 2
    queue.enqueue('a', bytes(10, 1));
    expect(queue.take(100, 0)).toHaveLength(1);
    queue.enqueue('b', bytes(10, 2));
    // b has been sent 0 times, a once: b comes first.
    expect(queue.take(10, 0)[0]![0]).toBe(2);
    expect(queue.take(100, 0)).toHaveLength(2); // a's 2nd, b's 2nd
    expect(queue.length).toBe(0);
  });

  it('keeps under the byte budget and lets a newer message about the same key replace the older', () => {
    const queue = new BroadcastQueue(4, () => 10);
    queue.enqueue('node:1', bytes(60, 1));
    queue.enqueue('node:2', bytes(60, 2));
    queue.enqueue('node:1', bytes(30, 3));
    const taken = queue.take(100, 3);
    expect(taken.map((message) => message[0])).toEqual([2, 3]);
    expect(queue.take(50, 3).map((message) => message.length)).toEqual([30]);
  });

  it('sends membership news before bulk news (check deltas), however often each was sent', () => {
    const queue = new BroadcastQueue(4, () => 10);
    queue.enqueue('node:9', bytes(40, 9));
    queue.take(100, 0);
    queue.take(100, 0);
    queue.enqueue('checks:1:1', bytes(40, 1), BULK);
    // Room for one: the alive news, sent twice already, before the delta never sent.
    expect(queue.take(40, 0).map((message) => message[0])).toEqual([9]);
    expect(queue.take(80, 0).map((message) => message[0])).toEqual([9, 1]);
  });

  it('drops bulk news first when over its bound', () => {
    const queue = new BroadcastQueue(4, () => 10, 2);
    queue.enqueue('node:1', bytes(10, 1));
    queue.take(100, 0); // node:1 sent once, the most sent
    queue.enqueue('checks:2:1', bytes(10, 2), BULK);
    queue.enqueue('node:3', bytes(10, 3));
    expect(queue.take(100, 0).map((message) => message[0])).toEqual([3, 1]);
  });
});

describe('replay guard', () => {
  it('accepts each sequence once, out of order within the window, nothing older', () => {
    const guard = new ReplayGuard();
    expect(guard.accept('a', 100)).toBe(true);
    expect(guard.accept('a', 100)).toBe(false);
    expect(guard.accept('a', 98)).toBe(true);
    expect(guard.accept('a', 98)).toBe(false);
    expect(guard.accept('a', 200)).toBe(true);
    expect(guard.accept('a', 137)).toBe(true); // 63 behind: still in the window
    expect(guard.accept('a', 136)).toBe(false); // 64 behind: too old to tell, refused
    expect(guard.accept('b', 5)).toBe(true); // each sender has its own window
  });
});

describe('keyring', () => {
  const key = () => randomBytes(32);

  it('seals with the primary and opens with any installed key; refuses others', () => {
    const [k1, k2] = [key(), key()];
    const sender = new Keyring([k1]);
    const receiver = new Keyring([k2]);
    const packet = sender.seal(Buffer.from('hello'));
    expect(receiver.open(packet)).toEqual({ ok: false, reason: 'decrypt' });
    receiver.install(k1);
    expect(receiver.open(packet)).toEqual({ ok: true, payload: Buffer.from('hello') });
    // A flipped bit anywhere fails authentication.
    const tampered = Buffer.from(packet);
    tampered[20]! ^= 1;
    expect(receiver.open(tampered)).toEqual({ ok: false, reason: 'decrypt' });
  });

  it('refuses plaintext when a key is set, and sealed packets when none is', () => {
    const open = new Keyring();
    const closed = new Keyring([key()]);
    expect(closed.open(open.seal(Buffer.from('x')))).toEqual({ ok: false, reason: 'plaintext-refused' });
    expect(open.open(closed.seal(Buffer.from('x')))).toEqual({ ok: false, reason: 'encrypted-without-key' });
    expect(open.open(open.seal(Buffer.from('x')))).toEqual({ ok: true, payload: Buffer.from('x') });
  });

  it('rotates: install, use, remove; never removes the primary', () => {
    const [k1, k2] = [key(), key()];
    const keyring = new Keyring([k1]);
    expect(keyring.install(k2)).toBe(true);
    expect(keyring.install(k2)).toBe(false);
    expect(() => keyring.remove(fingerprint(k1))).toThrow(KeyringError);
    keyring.use(fingerprint(k2));
    keyring.remove(fingerprint(k1));
    expect(keyring.fingerprints()).toEqual([fingerprint(k2)]);
    expect(Keyring.fromState(keyring.toState()).primaryFingerprint()).toBe(fingerprint(k2));
    expect(() => parseKey('c2hvcnQ=')).toThrow('expected the base64 of 32 bytes');
  });
});

describe('codec', () => {
  it('round-trips packets and push-pull state', () => {
    const alive = encodeMessage({
      type: MessageType.Alive,
      incarnation: 3,
      record: record(7, { groups: ['web'], checks: { ...EMPTY_SUMMARY, version: 9, ok: 1, critical: 2 } }),
    });
    const packet = decodePacket(encodePacket({ senderId: 'n1', sequence: 42, messages: [alive] }));
    expect(packet).toEqual({
      senderId: 'n1',
      sequence: 42,
      messages: [
        {
          type: MessageType.Alive,
          incarnation: 3,
          record: record(7, {
            groups: ['web'],
            checks: { ...EMPTY_SUMMARY, version: 9, ok: 1, critical: 2 },
          }),
        },
      ],
    });
    const state = [{ record: record(1), incarnation: 2, state: 'suspect' as const }];
    expect(decodeStateExchange(encodeStateExchange('n1', state))).toEqual({ fromId: 'n1', entries: state });
  });

  it('reads records of 12 to 32 fields: older agents, the check-switch index, fields of later agents', () => {
    const fields = ['id', 'n', '1.2.3.4', 1, 2, '', 'dc', [], [0, 0, 0, 0, 0, 0, 0, false], 'v', [], ''];
    const alive = (record: unknown[]) => encode([1, 'n1', 1, [encode([5, 1, record])]]);
    const recordOf = (bytes: Uint8Array) => {
      const [message] = decodePacket(bytes).messages;
      return message?.type === MessageType.Alive ? message.record : undefined;
    };
    expect(recordOf(alive(fields))).toMatchObject({ keyGeneration: 0 });
    expect(recordOf(alive([...fields, 3]))).not.toHaveProperty('checkSwitches');
    expect(recordOf(alive([...fields, 3, 0]))).not.toHaveProperty('checkSwitches');
    expect(recordOf(alive([...fields, 3, 1234, 'later', 5]))).toMatchObject({
      keyGeneration: 3,
      checkSwitches: 1234,
    });
    expect(() => recordOf(alive([...fields, 3, -1]))).toThrow(DecodeError);
    expect(() => recordOf(alive([...fields, ...Array<number>(21).fill(0)]))).toThrow(DecodeError);
    // Written only when set: a node that never held a switch sends the 13 fields older agents read.
    const wire = (checkSwitches?: number) => {
      const packet = encodePacket({
        senderId: 'n1',
        sequence: 1,
        messages: [
          encodeMessage({ type: MessageType.Alive, incarnation: 1, record: record(7, { checkSwitches }) }),
        ],
      });
      return recordOf(packet);
    };
    expect(wire(undefined)).toEqual(record(7));
    expect(wire(99)).toEqual(record(7, { checkSwitches: 99 }));
  });

  it('pings and acks carry the live count last, and read without it (agents before it)', () => {
    const messagesOf = (raw: unknown[][]) =>
      decodePacket(encode([1, 'n1', 1, raw.map((message) => encode(message))])).messages;
    expect(
      messagesOf([
        [1, 5, 'n2'],
        [2, 5],
      ]),
    ).toEqual([
      { type: MessageType.Ping, seq: 5, targetId: 'n2' },
      { type: MessageType.Ack, seq: 5 },
    ]);
    expect(
      messagesOf([
        [1, 5, 'n2', 50],
        [2, 5, 49],
      ]),
    ).toEqual([
      { type: MessageType.Ping, seq: 5, targetId: 'n2', live: 50 },
      { type: MessageType.Ack, seq: 5, live: 49 },
    ]);
    // On the wire the fields an older agent reads keep their places: the count is appended.
    const ping = encodeMessage({ type: MessageType.Ping, seq: 5, targetId: 'n2', live: 50 });
    expect(decode(ping)).toEqual([1, 5, 'n2', 50]);
    expect(decode(encodeMessage({ type: MessageType.Ack, seq: 5 }))).toEqual([2, 5]);
    expect(() => messagesOf([[2, 5, -1]])).toThrow(DecodeError);
    expect(() => messagesOf([[1, 5, 'n2', 'many']])).toThrow(DecodeError);
  });

  it.each([
    ['not msgpack', Buffer.from([0xc1])],
    ['a number', encode(5)],
    ['a wrong version', encode([9, 'n1', 1, []])],
    ['a negative sequence', encode([1, 'n1', -1, []])],
    ['a message that is not bytes', encode([1, 'n1', 1, ['x']])],
    ['an unknown message type', encode([1, 'n1', 1, [encode([99, 1])]])],
    ['a ping without target', encode([1, 'n1', 1, [encode([1, 5])]])],
    [
      'a record with a bad port',
      encode([
        1,
        'n1',
        1,
        [
          encode([
            5,
            1,
            ['id', 'n', '1.2.3.4', 70000, 1, '', 'dc', [], [0, 0, 0, 0, 0, 0, false], 'v', [], ''],
          ]),
        ],
      ]),
    ],
    [
      'checks as a name -> state map (records before check summaries)',
      encode([1, 'n1', 1, [encode([5, 1, ['id', 'n', '1.2.3.4', 1, 1, '', 'dc', [], {}, 'v', [], '']])]]),
    ],
    ['an oversized string', encode([1, 'x'.repeat(70_000), 1, []])],
  ])('refuses %s with a DecodeError', (_what, bytes) => {
    expect(() => decodePacket(bytes)).toThrow(DecodeError);
  });
});

describe('push-pull interval', () => {
  it('stays put to 32 members, then grows with log2 N, as memberlist does', () => {
    expect(pushPullInterval(30_000, 10)).toBe(30_000);
    expect(pushPullInterval(30_000, 32)).toBe(30_000);
    expect(pushPullInterval(30_000, 33)).toBe(60_000);
    expect(pushPullInterval(30_000, 64)).toBe(60_000);
    expect(pushPullInterval(30_000, 100)).toBe(90_000);
    expect(pushPullInterval(30_000, 1000)).toBe(180_000);
  });
});

describe('member table live count', () => {
  it('follows joins, suspicion, death, return, leave and reaping', () => {
    const table = new MemberTable(
      record(1).id,
      { multiplier: 4, maxMultiplier: 6, probeIntervalMs: 1000 },
      () => undefined,
    );
    table.addSelf(record(1), 0);
    expect(table.liveCount()).toBe(1);
    table.applyAlive(record(2), 0);
    table.applyAlive(record(3), 0);
    expect(table.liveCount()).toBe(3);
    table.applySuspect(record(2).id, 0, record(3).id);
    expect(table.liveCount()).toBe(3); // a suspect still counts
    table.applyDead(record(2).id, 0, record(3).id);
    table.applyDead(record(2).id, 0, record(3).id); // news already known: no change
    expect(table.liveCount()).toBe(2);
    table.applyAlive(record(2), 1); // back with a higher incarnation
    expect(table.liveCount()).toBe(3);
    table.applyDead(record(3).id, 0, record(3).id); // leaves
    expect(table.liveCount()).toBe(2);
    expect(table.reap(-1)).toBe(1);
    expect(table.liveCount()).toBe(2);
    expect(table.liveCount()).toBe(
      table.all().filter((m) => m.state === 'alive' || m.state === 'suspect').length,
    );
    table.stopTimers();
  });

  it('stamps when a member last came or went, not when one is suspected or refreshed', () => {
    let now = 1000;
    const table = new MemberTable(
      record(1).id,
      { multiplier: 4, maxMultiplier: 6, probeIntervalMs: 1000 },
      () => undefined,
      () => undefined,
      undefined,
      { timers: new ManualTimers(), now: () => now },
    );
    table.addSelf(record(1), 0);
    expect(table.liveChangedAt).toBe(1000);
    now = 2000;
    table.applyAlive(record(2), 0);
    expect(table.liveChangedAt).toBe(2000);
    now = 3000;
    table.applySuspect(record(2).id, 0, record(1).id);
    table.applyAlive(record(2), 1); // refuted
    table.applyAlive(record(2, { groups: ['web'] }), 2); // its record changed
    expect(table.liveChangedAt).toBe(2000);
    now = 4000;
    table.applyDead(record(2).id, 2, record(1).id);
    expect(table.liveChangedAt).toBe(4000);
    table.stopTimers();
  });
});

describe('member table: news about this node', () => {
  it("refutes an earlier run's leave, but not its own", () => {
    const table = new MemberTable(
      record(1).id,
      { multiplier: 4, maxMultiplier: 6, probeIntervalMs: 1000 },
      () => undefined,
    );
    const self = table.addSelf(record(1), 0);
    // Started again while the others still hold the previous run as left at incarnation 3.
    expect(table.applyDead(record(1).id, 3, record(1).id).refuteWith).toBe(4);
    expect(table.applyDead(record(1).id, 0, record(2).id).refuteWith).toBe(1);
    // Leaving: our own leave coming back is no news.
    self.state = 'left';
    expect(table.applyDead(record(1).id, 0, record(1).id).refuteWith).toBeUndefined();
    table.stopTimers();
  });
});

describe('member table timers', () => {
  /** Nodes 1 (this one) to `count`, on manual time; `timedOut` lists the suspicions that ran out. */
  function tableOf(count: number) {
    const timers = new ManualTimers();
    const timedOut: string[] = [];
    const table = new MemberTable(
      record(1).id,
      { multiplier: 3, maxMultiplier: 6, probeIntervalMs: 1000 },
      (member) => timedOut.push(member.record.name),
      () => undefined,
      undefined,
      { timers, now: timers.clock },
    );
    table.addSelf(record(1), 0);
    for (let index = 2; index <= count; index++) table.applyAlive(record(index), 0);
    return { table, timers, timedOut };
  }

  it('runs an unconfirmed suspicion for the maximum, on its own clock', () => {
    // 5 members: minimum 3 × 1 × 1000 ms, maximum 6 × that; two confirmations expected.
    const { table, timers, timedOut } = tableOf(5);
    table.applySuspect(record(2).id, 0, record(3).id);
    timers.advance(18_000 - 1);
    expect(timedOut).toEqual([]);
    timers.advance(1);
    expect(timedOut).toEqual(['node-2']);
  });

  it('shortens a suspicion with each independent confirmation, down to the minimum', () => {
    const { table, timers, timedOut } = tableOf(5);
    table.applySuspect(record(2).id, 0, record(3).id);
    timers.advance(1000);
    // One of two: log(2)/log(3) of the way from 18 s to 3 s, counted from the start.
    expect(table.applySuspect(record(2).id, 0, record(4).id).rebroadcast).toBe(true);
    const oneConfirmationMs = Math.floor(18_000 - (Math.log(2) / Math.log(3)) * 15_000);
    timers.advance(oneConfirmationMs - 1000 - 1);
    expect(timedOut).toEqual([]);
    // The second: the minimum, already past: it runs out at once.
    expect(table.applySuspect(record(2).id, 0, record(5).id).rebroadcast).toBe(true);
    timers.advance(0);
    expect(timedOut).toEqual(['node-2']);
    // The same confirmer twice is not news.
    expect(table.applySuspect(record(2).id, 0, record(5).id).rebroadcast).toBe(false);
  });

  it('reaps a dead member once it has been dead for the given time, not before', () => {
    const { table, timers } = tableOf(3);
    table.applyDead(record(2).id, 0, record(3).id);
    timers.advance(60_000);
    expect(table.reap(60_000)).toBe(0);
    timers.advance(1);
    expect(table.reap(60_000)).toBe(1);
    expect(table.get(record(2).id)).toBeUndefined();
  });
});
