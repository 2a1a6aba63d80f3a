// The cluster keyring kept in step with the other nodes (rules: key-generation.ts). Operators'
// changes are made here and gossiped; every version heard (members' records, key ops, offers) is
// weighed, and this node moves to the newest one it can take, outvotes a version that still holds
// a key it removed, offers its keys to members behind it, or says why it cannot follow.
//
// Every change is saved (atomically and durably) before it is applied or announced, so a crash at
// any point restarts the node with a keyring no older than anything it announced; the cluster then
// converges from whatever state each node restarted in (docs/gossip.md).
import {
  type Candidate,
  compareVersions,
  decide,
  type Decision,
  type KeyringVersion,
  offersFor,
} from './key-generation.js';
import {
  type KeyOfferMessage,
  type KeyOpMessage,
  MAX_KEY_GENERATION,
  type NodeRecord,
  versionOf,
} from './codec.js';
import { SYSTEM_TIMERS, type Timers } from '../shared/timers.js';
import type { PacketAddress } from './transport.js';
import { fingerprint, type Keyring, KeyringError, parseKey } from './keyring.js';
import type { Member } from './members.js';
import { messageOf } from '../shared/errors.js';
import type { KeyringStatus } from '../shared/api-types.js';

/** What keyring sync needs from the gossip engine (GossipEngine has it). */
export interface KeyGossip {
  readonly stopped: boolean;
  readonly selfMember: Member;
  members(): Member[];
  updateSelf(changes: Partial<NodeRecord>): void;
  broadcastKeyOp(op: Omit<KeyOpMessage, 'type' | 'opId'>): void;
  sendKeyOffer(to: PacketAddress, offer: Omit<KeyOfferMessage, 'type'>, sealWith: string): boolean;
}

export interface KeyringSyncOptions {
  /** The live keyring (the engine seals and opens with this object). */
  keyring: Keyring;
  /** Saves a keyring durably (keyring-store.ts); called before the change is applied. */
  save: (keyring: Keyring) => void;
  /** The primary key changed: the cluster RPC must follow it. */
  onPrimaryChange: () => void;
  log: {
    info: (message: string, fields?: Record<string, unknown>) => void;
    warn: (message: string, fields?: Record<string, unknown>) => void;
  };
  /** The clock of the offers' retry period (ms). */
  now?: () => number;
  /** The burst coalescing (an immediate) and the offers' retries; tests drive them. */
  timers?: Timers;
  /** In [0, 1): which of the nodes up to date offer, each retry (about OFFERERS of them). */
  random?: () => number;
  /** Offers to a member still behind are repeated this often (they are UDP packets). */
  retryMs?: number;
  /**
   * Whether offers carry the keys a member lacks (`gossip.key_offers`, default true). Off, they
   * carry this node's version only: a holder of a key being rotated away (a leaked one) that
   * announces an older version is not handed the new key (docs/gossip.md, "A compromised key").
   */
  keyOffers?: boolean;
}

const DEFAULT_RETRY_MS = 2000;
/** About this many nodes offer their keyring to each member behind, per retry. */
const OFFERERS = 3;
/** Members whose last offer time is remembered. */
const MAX_OFFER_TIMES = 1024;

export class KeyringSync {
  private gossip?: KeyGossip;
  private behind?: KeyringStatus['behind'];
  /**
   * The newest version heard only from a key op or an offer (its node's record may be out of
   * reach, sealed with a key this node lacks): still weighed until this node catches up with it.
   */
  private heard?: Candidate;
  private conflict?: KeyringStatus['conflict'];
  /** The last situation logged, so a lasting one is logged once, not at every check. */
  private lastNotice = '';
  private scheduled = false;
  private retryTimer?: unknown;
  private readonly lastOfferAt = new Map<string, number>();
  private stopped = false;
  private readonly now: () => number;
  private readonly timers: Timers;
  private readonly random: () => number;
  private readonly retryMs: number;
  private readonly keyOffers: boolean;

  constructor(private readonly options: KeyringSyncOptions) {
    this.now = options.now ?? Date.now;
    this.timers = options.timers ?? SYSTEM_TIMERS;
    this.random = options.random ?? Math.random;
    this.retryMs = options.retryMs ?? DEFAULT_RETRY_MS;
    this.keyOffers = options.keyOffers ?? true;
  }

  /** Starts following the cluster through `gossip` (once the engine runs). */
  attach(gossip: KeyGossip): void {
    this.gossip = gossip;
    this.schedule();
  }

  stop(): void {
    this.stopped = true;
    if (this.retryTimer !== undefined) this.timers.clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
  }

  get keyring(): Keyring {
    return this.options.keyring;
  }

  status(): KeyringStatus {
    const { generation, primary } = this.options.keyring.version();
    return {
      generation,
      primary,
      ...(this.behind ? { behind: this.behind } : {}),
      ...(this.conflict ? { conflict: this.conflict } : {}),
    };
  }

  /**
   * An operator's change: saved, gossiped, then applied here. Returns the key's fingerprint.
   * Throws KeyringError (the operator's mistake, or this node behind the cluster).
   */
  operatorChange(op: KeyOpMessage['op'], value: string): string {
    const gossip = this.requireGossip();
    const live = this.options.keyring;
    if (op !== 'install' && this.behind) {
      // A change made here would carry this node's older keyring to the whole cluster.
      throw new KeyringError(
        `this node is behind the cluster keyring: ${this.behind.announced_by} announces generation ` +
          `${this.behind.generation} (primary ${this.behind.primary}), and this node lacks key(s) ` +
          `${this.behind.missing.join(', ')}; install them here (opsbro gossip keys install KEY) or run ` +
          `the command on ${this.behind.announced_by}`,
      );
    }
    // Above every generation this node has heard of: the change wins over each of them.
    let highest = { generation: live.generation, from: 'this node' };
    for (const member of gossip.members()) {
      if (member.record.keyGeneration > highest.generation)
        highest = { generation: member.record.keyGeneration, from: member.record.name };
    }
    if (highest.generation >= MAX_KEY_GENERATION) {
      throw new KeyringError(
        `${highest.from} announces generation ${highest.generation}, the highest a keyring may have: ` +
          'no change can be ordered after it (only a bug or a hostile key holder gets there); ' +
          'rebuild the keyrings offline as docs/gossip.md says ("Generations")',
      );
    }
    const next = live.clone();
    next.generation = highest.generation + 1;
    let keyFingerprint = value;
    if (op === 'install') {
      const key = parseKey(value);
      keyFingerprint = fingerprint(key);
      next.install(key);
    } else if (op === 'use') next.use(value);
    else next.remove(value, next.generation);
    const version = next.version();
    this.commit(next, { op, source: 'operator' }, () => gossip.broadcastKeyOp({ op, key: value, version }));
    return keyFingerprint;
  }

  /** A key op from the cluster; returns whether it was news here (the engine relays it then). */
  onKeyOp(message: KeyOpMessage): boolean {
    const news = compareVersions(message.version, this.options.keyring.version()) > 0;
    const material = message.op === 'install' ? offered([message.key]) : new Map<string, Buffer>();
    this.reconcile({ version: message.version, from: `a key op (${message.op})` }, material);
    return news;
  }

  /**
   * A member's offer: its version, and keys this node lacked when it last heard of this node. An
   * offer of an older version than this node's is answered with this node's own: its sender may
   * not be able to read this node's record (sealed with a key it removed, or carrying an
   * incarnation it ignores), and must hear this version to adopt it or outvote it.
   */
  onKeyOffer(offer: KeyOfferMessage, senderId: string, from: PacketAddress): void {
    const gossip = this.gossip;
    const sender = gossip?.members().find((member) => member.record.id === senderId);
    this.reconcile(
      { version: offer.version, from: sender?.record.name ?? senderId },
      offered(offer.material),
    );
    if (!gossip || this.stopped || gossip.stopped) return;
    const local = this.options.keyring.version();
    if (compareVersions(offer.version, local) >= 0) return;
    const [answer] = offersFor(local, [{ id: senderId, version: offer.version }]);
    if (answer && this.mayOffer(senderId))
      this.sendOffer(gossip, from, this.offeredKeys(answer.keys), answer.sealWith, senderId);
  }

  /**
   * Membership news: a member joined, came back, changed its record (its keyring version), or is
   * gone (its version no longer counts). Weighed soon, once for a burst.
   */
  onMembershipEvent(): void {
    this.schedule();
  }

  /** Weighs every version heard soon (once for a burst of membership news). */
  schedule(): void {
    if (this.scheduled || this.stopped) return;
    this.scheduled = true;
    this.timers.setImmediate(() => {
      this.scheduled = false;
      this.reconcile();
    });
  }

  /** Weighs the members' versions (and `extra`, with the keys offered with it) and acts. */
  reconcile(extra?: Candidate, material: Map<string, Buffer> = new Map()): void {
    const gossip = this.gossip;
    if (this.stopped || !gossip || gossip.stopped) return;
    const live = this.options.keyring;
    const local = live.version();
    if (extra && compareVersions(extra.version, local) > 0) {
      if (!this.heard || compareVersions(extra.version, this.heard.version) > 0) this.heard = extra;
    }
    if (this.heard && compareVersions(this.heard.version, local) <= 0) this.heard = undefined;
    const candidates = this.memberCandidates(gossip);
    if (extra) candidates.push(extra);
    if (this.heard && this.heard !== extra) candidates.push(this.heard);
    const available = new Set([...local.keys, ...material.keys()]);
    const decision = decide(local, live.removed, available, candidates);
    if (decision.kind !== 'wait') this.behind = undefined;
    if (decision.kind !== 'conflict') this.conflict = undefined;
    try {
      switch (decision.kind) {
        case 'adopt':
          return this.adopt(decision, material);
        case 'wait':
          return this.waitFor(decision);
        case 'outvote':
          return this.outvote(decision);
        case 'conflict':
          return this.noteConflict(decision);
        case 'current':
          this.lastNotice = '';
          return this.offer(gossip, local);
      }
    } catch (error) {
      // Disk full, a keyring full of keys: logged, and tried again with the next news.
      this.options.log.warn('keyring change not applied', {
        decision: decision.kind,
        error: messageOf(error),
      });
    }
  }

  private adopt(decision: Extract<Decision, { kind: 'adopt' }>, material: Map<string, Buffer>): void {
    const { version, from } = decision.candidate;
    const next = this.options.keyring.clone();
    for (const keyFingerprint of decision.install) next.install(material.get(keyFingerprint)!);
    if (next.primaryFingerprint() !== version.primary) next.use(version.primary);
    for (const keyFingerprint of decision.remove) next.remove(keyFingerprint, version.generation);
    next.generation = version.generation;
    this.lastNotice = '';
    this.commit(next, {
      source: from,
      installed: decision.install.join(',') || undefined,
      removed: decision.remove.join(',') || undefined,
    });
  }

  private waitFor(decision: Extract<Decision, { kind: 'wait' }>): void {
    const { version, from } = decision.candidate;
    this.behind = {
      generation: version.generation,
      primary: version.primary,
      announced_by: from,
      missing: decision.missing,
    };
    this.notice(`behind:${version.generation}:${version.primary}:${decision.missing.join()}`, () =>
      this.options.log.warn(
        'a newer cluster keyring needs keys this node lacks: it keeps its own until another node offers them or they are installed here (opsbro gossip keys install KEY)',
        {
          announced_by: from,
          generation: version.generation,
          primary: version.primary,
          missing: decision.missing.join(','),
          local_generation: this.options.keyring.generation,
          local_primary: this.options.keyring.primaryFingerprint(),
        },
      ),
    );
  }

  private outvote(decision: Extract<Decision, { kind: 'outvote' }>): void {
    if (decision.generation > MAX_KEY_GENERATION) {
      // Above the cap, this node's records would be refused everywhere: worse than the stale version.
      return this.notice(`cap:${decision.over.from}:${decision.over.version.primary}`, () =>
        this.options.log.warn(
          'a member announces a keyring holding keys removed here, at the highest generation a keyring may have: it cannot be outvoted; rebuild the keyrings offline (docs/gossip.md, "Generations")',
          {
            node: decision.over.from,
            its_generation: decision.over.version.generation,
            removed: decision.removed.join(','),
          },
        ),
      );
    }
    this.options.log.warn(
      'a member announces a keyring holding keys removed here: announcing this one above it',
      {
        node: decision.over.from,
        its_generation: decision.over.version.generation,
        removed: decision.removed.join(','),
        generation: decision.generation,
      },
    );
    const next = this.options.keyring.clone();
    next.generation = decision.generation;
    this.commit(next, { source: 'outvote', over: decision.over.from });
  }

  private noteConflict(decision: Extract<Decision, { kind: 'conflict' }>): void {
    const { version, from } = decision.candidate;
    this.conflict = {
      generation: version.generation,
      primary: version.primary,
      announced_by: from,
      removed: decision.removed,
    };
    this.notice(`conflict:${version.generation}:${version.primary}`, () =>
      this.options.log.warn(
        "a member announces a newer keyring holding keys removed here, and lacks this node's primary: they cannot reconcile; install a key both hold as primary on one side",
        {
          node: from,
          generation: version.generation,
          primary: version.primary,
          removed: decision.removed.join(','),
          local_primary: this.options.keyring.primaryFingerprint(),
        },
      ),
    );
  }

  /**
   * Order: save (a crash from here restarts with `next`), announce the op if any (sealed with the
   * primary of the moment), apply, then the record announces the new version.
   */
  private commit(next: Keyring, fields: Record<string, unknown>, announceOp?: () => void): void {
    this.options.save(next);
    announceOp?.();
    const live = this.options.keyring;
    const primaryChanged = next.primaryFingerprint() !== live.primaryFingerprint();
    live.replaceWith(next);
    const version = live.version();
    this.gossip?.updateSelf({
      keys: version.keys,
      primaryKey: version.primary,
      keyGeneration: version.generation,
    });
    this.options.log.info('keyring changed', {
      ...fields,
      generation: version.generation,
      primary: version.primary,
      keys: version.keys.length,
    });
    if (primaryChanged) this.options.onPrimaryChange();
    // Members behind the new version get offers; a newer one may be waiting too.
    this.schedule();
  }

  /** Offers this node's version (and keys they lack) to members behind it; repeated while they are. */
  private offer(gossip: KeyGossip, local: KeyringVersion): void {
    const members = gossip
      .members()
      .filter(
        (member) => member !== gossip.selfMember && (member.state === 'alive' || member.state === 'suspect'),
      );
    const offers = offersFor(
      local,
      members.map((member) => ({ id: member.record.id, version: versionOf(member.record) })),
    );
    if (!offers.length) {
      this.lastOfferAt.clear();
      return;
    }
    const now = this.now();
    // Every node up to date would offer to each member behind: about OFFERERS of them do, per retry.
    const share = Math.min(1, OFFERERS / Math.max(1, members.length - 1));
    for (const offer of offers) {
      if (!this.mayOffer(offer.memberId, now) || this.random() >= share) continue;
      const member = members.find((candidate) => candidate.record.id === offer.memberId)!;
      this.sendOffer(
        gossip,
        member.record,
        this.offeredKeys(offer.keys),
        offer.sealWith,
        offer.memberId,
        now,
      );
    }
    this.retryLater();
  }

  /** The keys an offer may carry of those a member lacks: none unless key offers are on. */
  private offeredKeys(lacking: string[]): string[] {
    return this.keyOffers ? lacking : [];
  }

  /** At most one offer per member per retry period. */
  private mayOffer(memberId: string, now = this.now()): boolean {
    const last = this.lastOfferAt.get(memberId);
    return last === undefined || now - last >= this.retryMs;
  }

  /** This node's version, with the material of `keys`, to one member, sealed with `sealWith`. */
  private sendOffer(
    gossip: KeyGossip,
    to: PacketAddress,
    keys: string[],
    sealWith: string,
    memberId: string,
    now = this.now(),
  ): void {
    const keyring = this.options.keyring;
    const material = keys.map((keyFingerprint) => keyring.material(keyFingerprint)!);
    if (!gossip.sendKeyOffer(to, { version: keyring.version(), material }, sealWith)) return;
    this.lastOfferAt.delete(memberId);
    this.lastOfferAt.set(memberId, now);
    if (this.lastOfferAt.size > MAX_OFFER_TIMES)
      this.lastOfferAt.delete(this.lastOfferAt.keys().next().value!);
  }

  private retryLater(): void {
    if (this.retryTimer !== undefined || this.stopped) return;
    this.retryTimer = this.timers.setTimeout(
      () => {
        this.retryTimer = undefined;
        this.reconcile();
      },
      this.retryMs,
      true,
    );
  }

  private memberCandidates(gossip: KeyGossip): Candidate[] {
    const candidates: Candidate[] = [];
    for (const member of gossip.members()) {
      if (member === gossip.selfMember || (member.state !== 'alive' && member.state !== 'suspect')) continue;
      candidates.push({ version: versionOf(member.record), from: member.record.name });
    }
    return candidates;
  }

  private notice(situation: string, log: () => void): void {
    if (situation === this.lastNotice) return;
    this.lastNotice = situation;
    log();
  }

  private requireGossip(): KeyGossip {
    if (!this.gossip) throw new Error('gossip is not running');
    return this.gossip;
  }
}

/** Offered keys by fingerprint; anything that is not a key is ignored. */
function offered(keys: string[]): Map<string, Buffer> {
  const material = new Map<string, Buffer>();
  for (const base64 of keys) {
    try {
      const key = parseKey(base64);
      material.set(fingerprint(key), key);
    } catch {
      // Not a key: nothing to install from it.
    }
  }
  return material;
}
