// KeyringSync alone, against a fake of the gossip engine (what it announces, gossips and offers is
// recorded, the members are set by hand), on manual timers and a chosen random: the generation
// cap, offers with `gossip.key_offers` on and off, their retries. The engines on the in-memory
// network are keyring-sync.test.ts.
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  DecodeError,
  decodePacket,
  encodeMessage,
  encodePacket,
  type KeyOfferMessage,
  type KeyOpMessage,
  MAX_KEY_GENERATION,
  type Message,
  MessageType,
  type NodeRecord,
} from '../../agent/gossip/codec.js';
import { GossipEngine } from '../../agent/gossip/engine.js';
import { fingerprint, Keyring, KeyringError } from '../../agent/gossip/keyring.js';
import { type KeyGossip, KeyringSync } from '../../agent/gossip/keyring-sync.js';
import type { Member } from '../../agent/gossip/members.js';
import { type PacketAddress } from '../../agent/gossip/transport.js';
import { MemoryNetwork } from '../../bench/gossip/memory-network.js';
import { ManualTimers } from '../helpers/manual-timers.js';
import { record } from './memory-cluster.js';

/** The engine as keyring sync sees it: members set by the test, everything sent recorded. */
class FakeGossip implements KeyGossip {
  stopped = false;
  readonly selfMember: Member;
  readonly others: Member[] = [];
  readonly ops: Array<Omit<KeyOpMessage, 'type' | 'opId'>> = [];
  readonly offers: Array<{ to: PacketAddress; offer: Omit<KeyOfferMessage, 'type'>; sealWith: string }> = [];

  constructor(keyring: Keyring) {
    const version = keyring.version();
    this.selfMember = member(
      record(1, { keys: version.keys, primaryKey: version.primary, keyGeneration: version.generation }),
    );
  }

  members(): Member[] {
    return [this.selfMember, ...this.others];
  }

  updateSelf(changes: Partial<NodeRecord>): void {
    this.selfMember.record = { ...this.selfMember.record, ...changes };
  }

  broadcastKeyOp(op: Omit<KeyOpMessage, 'type' | 'opId'>): void {
    this.ops.push(op);
  }

  sendKeyOffer(to: PacketAddress, offer: Omit<KeyOfferMessage, 'type'>, sealWith: string): boolean {
    this.offers.push({ to, offer, sealWith });
    return true;
  }
}

const member = (nodeRecord: NodeRecord): Member => ({
  record: nodeRecord,
  incarnation: 0,
  state: 'alive',
  stateChangedAt: 0,
});

interface Harness {
  sync: KeyringSync;
  timers: ManualTimers;
  gossip: FakeGossip;
  keyring: Keyring;
  saved: Keyring[];
  warnings: string[];
}

function harness(keyring: Keyring, options: { keyOffers?: boolean; random?: () => number } = {}): Harness {
  const timers = new ManualTimers();
  const saved: Keyring[] = [];
  const warnings: string[] = [];
  const sync = new KeyringSync({
    keyring,
    save: (next) => saved.push(next.clone()),
    onPrimaryChange: () => undefined,
    log: { info: () => undefined, warn: (message) => warnings.push(message) },
    timers,
    now: () => timers.now,
    random: options.random ?? (() => 0),
    ...(options.keyOffers === undefined ? {} : { keyOffers: options.keyOffers }),
  });
  const gossip = new FakeGossip(keyring);
  sync.attach(gossip);
  return { sync, timers, gossip, keyring, saved, warnings };
}

const newKey = () => randomBytes(32);

/** 2^31 - 1: the highest generation a keyring may have. */
const CAP = 2 ** 31 - 1;

describe('the keyring generation cap', () => {
  const decodes = (message: Message) => () =>
    decodePacket(encodePacket({ senderId: 'node', sequence: 1, messages: [encodeMessage(message)] }));
  const version = (generation: number) => ({ generation, primary: 'a', keys: ['a'] });
  const cases: Array<[string, (generation: number) => Message]> = [
    [
      'a record',
      (generation) => ({
        type: MessageType.Alive,
        incarnation: 1,
        record: record(2, { keyGeneration: generation }),
      }),
    ],
    [
      'a key op',
      (generation) => ({
        type: MessageType.KeyOp,
        opId: 'op',
        op: 'use',
        key: 'a',
        version: version(generation),
      }),
    ],
    [
      'a key offer',
      (generation) => ({ type: MessageType.KeyOffer, version: version(generation), material: [] }),
    ],
  ];

  it.each(cases)('the codec refuses %s announcing a generation above 2^31 - 1', (_, message) => {
    expect(MAX_KEY_GENERATION).toBe(CAP);
    expect(decodes(message(CAP))).not.toThrow();
    expect(decodes(message(CAP + 1))).toThrow(DecodeError);
    expect(decodes(message(Number.MAX_SAFE_INTEGER))).toThrow(/generation/);
  });

  it('the engine drops such a packet and counts it as malformed', async () => {
    const network = new MemoryNetwork();
    const self = record(1);
    const engine = new GossipEngine({
      self,
      transport: network.attach(self.address, self.port),
      keyring: new Keyring(),
    });
    const sender = record(2, { keyGeneration: CAP + 1 });
    const alive = encodeMessage({ type: MessageType.Alive, incarnation: 1, record: sender });
    const packet = new Keyring().seal(encodePacket({ senderId: sender.id, sequence: 1, messages: [alive] }));
    network.attach(sender.address, sender.port).send(self, packet);
    await new Promise((resolve) => setImmediate(resolve));
    expect(engine.stats.dropped.malformed).toBe(1);
    expect(engine.table.get(sender.id)).toBeUndefined();
    engine.stop();
  });

  it('a change after a member announcing the cap is refused with a KeyringError naming it', () => {
    const key = newKey();
    const { sync, gossip, keyring, saved } = harness(new Keyring([key]));
    gossip.others.push(
      member(
        record(2, {
          keys: [fingerprint(key)],
          primaryKey: fingerprint(key),
          keyGeneration: CAP,
        }),
      ),
    );
    const change = () => sync.operatorChange('install', newKey().toString('base64'));
    expect(change).toThrow(KeyringError);
    expect(change).toThrow(/node-2 announces generation 2147483647, the highest a keyring may have/);
    expect(saved).toEqual([]);
    expect(gossip.ops).toEqual([]);
    expect(keyring.fingerprints()).toEqual([fingerprint(key)]);
    // One below the cap: the change takes the cap.
    gossip.others[0]!.record.keyGeneration = CAP - 1;
    sync.operatorChange('install', newKey().toString('base64'));
    expect(keyring.generation).toBe(CAP);
  });

  it('a node at the cap does not outvote a stale version above it; it says so once', () => {
    const [key, removedKey] = [newKey(), newKey()];
    const local = new Keyring([key]);
    local.generation = CAP;
    local.removed.set(fingerprint(removedKey), CAP);
    const { sync, gossip, saved, warnings } = harness(local);
    // A member at the same version but for a key removed here: outvoting it takes the cap + 1.
    gossip.others.push(
      member(
        record(2, {
          keys: [fingerprint(key), fingerprint(removedKey)],
          primaryKey: fingerprint(key),
          keyGeneration: CAP,
        }),
      ),
    );
    sync.reconcile();
    sync.reconcile();
    expect(saved).toEqual([]);
    expect(local.generation).toBe(CAP);
    expect(warnings.filter((line) => /cannot be outvoted/.test(line))).toHaveLength(1);
  });
});

describe('offers to a member announcing an older keyring', () => {
  /** This node after a rotation (old -> next, generation 2); node-2 still announces `old` alone. */
  function rotated(keyOffers?: boolean, random?: () => number) {
    const [old, next] = [newKey(), newKey()];
    const keyring = new Keyring([old, next], next);
    keyring.generation = 2;
    const node = harness(keyring, { keyOffers, random });
    const behind = record(2, { keys: [fingerprint(old)], primaryKey: fingerprint(old), keyGeneration: 1 });
    node.gossip.others.push(member(behind));
    return { ...node, old, next, behind };
  }

  it.each([
    ['by default', undefined],
    ['with gossip.key_offers: true', true],
  ])('%s carry the keys it lacks, sealed with a key it holds', (_, keyOffers) => {
    const { sync, gossip, old, next, behind } = rotated(keyOffers);
    sync.reconcile();
    expect(gossip.offers).toEqual([
      {
        to: behind,
        offer: { version: sync.keyring.version(), material: [next.toString('base64')] },
        sealWith: fingerprint(old),
      },
    ]);
    sync.stop();
  });

  it('with gossip.key_offers: false carry the version only, never a key', () => {
    const { sync, gossip, old, behind } = rotated(false);
    sync.reconcile();
    expect(gossip.offers).toEqual([
      { to: behind, offer: { version: sync.keyring.version(), material: [] }, sealWith: fingerprint(old) },
    ]);
    sync.stop();
  });

  it.each([
    [true, 1],
    [false, 0],
  ])(
    'an offer of the older version from that member is answered with this version (key_offers %s: %i keys)',
    (keyOffers, keys) => {
      const { sync, gossip, old, next, behind } = rotated(keyOffers);
      // Its record unread here (sealed with a key this node removed, say): only its offer arrives.
      gossip.others.length = 0;
      const from = { address: behind.address, port: behind.port };
      sync.onKeyOffer(
        {
          type: MessageType.KeyOffer,
          version: { generation: 1, primary: fingerprint(old), keys: [fingerprint(old)] },
          material: [],
        },
        behind.id,
        from,
      );
      expect(gossip.offers).toEqual([
        {
          to: from,
          offer: { version: sync.keyring.version(), material: [next.toString('base64')].slice(0, keys) },
          sealWith: fingerprint(old),
        },
      ]);
      sync.stop();
    },
  );

  it('are repeated every retry period while the member stays behind, and end when it catches up', () => {
    const { sync, timers, gossip, behind } = rotated();
    // The news of attach() is weighed on the next turn.
    timers.advance(0);
    expect(gossip.offers).toHaveLength(1);
    timers.advance(1999);
    expect(gossip.offers).toHaveLength(1);
    timers.advance(1);
    expect(gossip.offers).toHaveLength(2);
    Object.assign(behind, {
      keys: sync.keyring.fingerprints(),
      primaryKey: sync.keyring.primaryFingerprint(),
      keyGeneration: 2,
    });
    timers.advance(2000);
    expect(gossip.offers).toHaveLength(2);
    // Nobody behind: no retry timer left.
    expect(timers.size).toBe(0);
    sync.stop();
  });

  it('come from about three of the nodes up to date: each draws its share', () => {
    for (const [draw, offers] of [
      [0.49, 7],
      [0.5, 0],
    ] as const) {
      const { sync, gossip, old } = rotated(true, () => draw);
      // Seven other members, all behind: each of them has up to six others to hear from, so this
      // node offers to it with probability 3 / 6.
      for (let index = 3; index <= 8; index++)
        gossip.others.push(
          member(record(index, { keys: [fingerprint(old)], primaryKey: fingerprint(old), keyGeneration: 1 })),
        );
      sync.reconcile();
      expect(gossip.offers).toHaveLength(offers);
      sync.stop();
    }
  });
});
