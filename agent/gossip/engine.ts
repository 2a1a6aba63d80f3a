// The SWIM engine: probes members, answers probes, spreads membership news by piggyback and by a
// small gossip fan-out, and applies what it hears to the member table. It knows nothing about the
// agent around it: a transport carries its packets, a keyring seals them, callbacks report events
// and ask for push-pull state syncs.
import { randomBytes } from 'node:crypto';
import { Awareness } from './awareness.js';
import { BroadcastQueue, BULK } from './broadcast-queue.js';
import {
  ANY_NODE,
  DecodeError,
  decodePacket,
  encodeMessage,
  encodePacket,
  type AliveMessage,
  type CheckDeltaMessage,
  type DeadMessage,
  type KeyOfferMessage,
  type KeyOpMessage,
  type SuspectMessage,
  type Message,
  MESSAGE_OVERHEAD_BYTES,
  MessageType,
  type NodeRecord,
  PACKET_OVERHEAD_BYTES,
  type StateEntry,
} from './codec.js';
import type { CheckSummary, DropReason, GossipStats } from '../shared/api-types.js';
import type { CheckDelta } from './check-codec.js';

export type { StateEntry } from './codec.js';
import { DropsBySource } from './drops-by-source.js';
import { ENCRYPTION_OVERHEAD_BYTES, type Keyring } from './keyring.js';
import { type Member, type MembershipEvent, MemberTable, type Outcome } from './members.js';
import { RateLimitedLog } from '../log/index.js';
import { RecentIds } from './recent-ids.js';
import { initialSequence, ReplayGuard } from './replay-guard.js';
import { type GossipTime, SYSTEM_TIME } from './suspicion.js';
import type { PacketAddress, PacketTransport, SocketError } from './transport.js';
import { messageOf } from '../shared/errors.js';
import type { Timers } from '../shared/timers.js';

/**
 * Protocol timings. The defaults are memberlist's LAN profile but for two, both from its Local
 * profile (docs/gossip.md): a suspicion multiplier of 3 instead of 4, with at least two
 * confirmations still needed to reach the minimum (members.ts), so a dead node is declared about a
 * second sooner per log10 N, and a gossip period of 100 ms instead of 200, so news spreads in half
 * the time for the same bytes (each message is sent a bounded number of times, and only while
 * there is news). The 10%-loss test shows no false failure with them.
 */
export interface GossipTimings {
  probeIntervalMs: number;
  probeTimeoutMs: number;
  /** Members asked to probe indirectly when a direct ack is late (SWIM's k). */
  indirectChecks: number;
  suspicionMultiplier: number;
  suspicionMaxMultiplier: number;
  gossipIntervalMs: number;
  gossipNodes: number;
  retransmitMultiplier: number;
  /** Keep gossiping to members dead for less than this, so they learn it and can refute. */
  gossipToTheDeadMs: number;
  pushPullIntervalMs: number;
  /** Forget dead and left members after this. */
  reapAfterMs: number;
  mtuBytes: number;
  awarenessMax: number;
}

/** The first fan-out after a quiet spell waits this long, to send news arriving together at once. */
const FIRST_GOSSIP_DELAY_MS = 20;

/** How many members, on average, probe a newly suspected member at once instead of in turn. */
const PROMPT_CONFIRMERS = 4;

/**
 * Members a refutation is also sent to directly, beside the gossip that spreads it. Under loss,
 * gossip alone can miss one node, which then declares this live node dead when its suspicion
 * runs out (a seeded sweep: 6 runs in 200 at 10% loss, N = 10). Refutations are rare (a false
 * suspicion each), so a burst of direct packets costs little, and it is bounded for large clusters.
 */
const REFUTATION_FANOUT = 32;

/**
 * Key-op ids remembered to relay each op once. Forgetting one is harmless: a key op carries the
 * keyring version it made, which a node adopts only when it is newer than its own, and relays
 * only then (keyring-sync.ts); an op heard again after it was forgotten is old news, neither
 * applied nor relayed again.
 */
const SEEN_KEY_OPS = 1024;

/** Indirect probes (ping-req) this node runs for others at once; more are refused (dropped). */
const MAX_PROBES_FOR_OTHERS = 64;

/** After a failed push-pull the next one comes this soon, doubling up to the push-pull interval. */
const PUSH_PULL_RETRY_MS = 1000;

/**
 * Push-pull rounds in a row with the same partner (while it stays alive and answers): the cluster
 * RPC keeps the connection between two rounds, so a sync costs no new handshake, and the partner
 * still changes often enough for anti-entropy to reach everyone (memberlist picks one per round).
 */
export const PUSH_PULL_PARTNER_ROUNDS = 4;

/**
 * Membership-gap repair. Each probe's ping and ack carry the sender's live member count. A node
 * that hears a larger count than its own, when no member came or went for REPAIR_QUIET_PROBES
 * probe intervals (news still spreading would close the gap anyway), push-pulls with that sender
 * at once instead of waiting for its periodic one (60 s at N = 50). Gossip delivers each message
 * a bounded number of times, so at formation a node can miss one member's news: 4 formations of
 * 50 in 20 in the in-memory cluster left a node short of a member until a push-pull; Serf had
 * tails of 88 and 61 s in two bench runs. At most one such push-pull per REPAIR_EVERY_PROBES probe intervals:
 * two nodes whose counts differ for a reason a sync cannot mend (a member one of them declared
 * dead, the other not yet) cost one every 10 s at most.
 */
const REPAIR_QUIET_PROBES = 2;
const REPAIR_EVERY_PROBES = 10;

/** Answers one LAN detection keeps at most. */
const MAX_DETECTED = 1024;

/** Source addresses whose last drops are remembered (for join diagnostics); the oldest are forgotten. */
const DROP_SOURCES = 256;

export const DEFAULT_TIMINGS: GossipTimings = {
  probeIntervalMs: 1000,
  probeTimeoutMs: 500,
  indirectChecks: 3,
  suspicionMultiplier: 3,
  suspicionMaxMultiplier: 6,
  gossipIntervalMs: 100,
  gossipNodes: 3,
  retransmitMultiplier: 4,
  gossipToTheDeadMs: 30_000,
  pushPullIntervalMs: 30_000,
  reapAfterMs: 3_600_000,
  mtuBytes: 1400,
  awarenessMax: 8,
};

/** Socket error codes counted apart; any further code is counted under 'other'. */
const MAX_SOCKET_ERROR_CODES = 32;

export interface GossipEngineOptions {
  self: NodeRecord;
  transport: PacketTransport;
  keyring: Keyring;
  timings?: Partial<GossipTimings>;
  onEvent?: (event: MembershipEvent) => void;
  /**
   * State exchange with one member (push-pull over the cluster RPC); `joining` when this node is
   * joining through it (it knows nobody yet: no point in comparing digests first).
   */
  syncState?: (member: Member, joining: boolean) => Promise<void>;
  /**
   * A cluster-wide keyring change arrived (once per op id): returns whether to relay it (it was
   * news here). Without a handler, every new op is relayed.
   */
  onKeyOp?: (op: KeyOpMessage) => boolean;
  /** A member sent this node its keyring version and keys it lacks (keyring-sync.ts). */
  onKeyOffer?: (offer: KeyOfferMessage, senderId: string, from: PacketAddress) => void;
  /**
   * A change of a node's check table arrived (check-sync.ts): returns whether to relay it (it was
   * news here). Without a handler, check deltas are neither applied nor relayed.
   */
  onCheckDelta?: (delta: CheckDelta) => boolean;
  /**
   * A member's record was taken into the table (a new member, or a newer incarnation): its check
   * summary may announce a table version this node lacks.
   */
  onRecord?: (member: Member) => void;
  /** Dead or left members were forgotten (reaped): what is kept about them can go too. */
  onReaped?: () => void;
  onWarning?: (message: string, fields?: Record<string, unknown>) => void;
  /** Protocol steps worth tracing (probes, ping-reqs, push-pulls), for `log.level: debug`. */
  onDebug?: (message: string, fields?: Record<string, unknown>) => void;
  /**
   * The engine's clock (ms since the epoch): probe round trips, state changes, reaping, the
   * rate-limited warnings. Date.now by default; tests drive it (with `timers`).
   */
  now?: () => number;
  /** Every timer of the protocol (probes, acks, gossip, push-pull, suspicions). Node's by default. */
  timers?: Timers;
  /** Random choices (probe order, gossip targets, prompt confirmers): seeded in tests, to replay. */
  random?: () => number;
  /** Members this node keeps at most; a new member beyond it is ignored (members.ts). */
  maxMembers?: number;
}

interface AckWaiter {
  /** `responderId`: the id of the node whose packet carried the ack. */
  onAck: (responderId: string) => void;
  onNack: () => void;
  /** Ends the wait now, unacknowledged (stop()). */
  cancel: () => void;
}

interface AckResult {
  acked: boolean;
  nacks: number;
  responderId?: string;
}

export class GossipEngine {
  readonly timings: GossipTimings;
  readonly table: MemberTable;
  readonly stats: GossipStats = {
    packetsIn: 0,
    packetsOut: 0,
    bytesIn: 0,
    bytesOut: 0,
    dropped: {
      decrypt: 0,
      'plaintext-refused': 0,
      'encrypted-without-key': 0,
      malformed: 0,
      replay: 0,
      'wrong-target': 0,
      overload: 0,
    },
    socketErrors: {},
    repairs: 0,
  };
  private readonly self: Member;
  private readonly awareness: Awareness;
  private readonly broadcasts: BroadcastQueue;
  private readonly replay = new ReplayGuard();
  private readonly waiters = new Map<number, AckWaiter>();
  private readonly detectWaiters = new Map<string, (record: NodeRecord) => void>();
  private readonly seenKeyOps = new RecentIds(SEEN_KEY_OPS);
  /** Drop and socket-error warnings: one line per kind per minute, with a count. */
  private readonly warnings: RateLimitedLog;
  /** When packets from each source were last dropped, by reason: why a join got no answer. */
  private readonly dropsBySource = new DropsBySource(DROP_SOURCES);
  /** Ping-reqs this node is running for others (bounded by MAX_PROBES_FOR_OTHERS). */
  private probesForOthers = 0;
  /** Push-pulls failed in a row: the next one comes sooner (PUSH_PULL_RETRY_MS, doubling). */
  private pushPullFailures = 0;
  private pushPullTimer?: unknown;
  /** The member this node push-pulls with, and for how many more rounds (PUSH_PULL_PARTNER_ROUNDS). */
  private pushPullPartner?: { id: string; roundsLeft: number };
  /** When the last membership-gap repair started (REPAIR_EVERY_PROBES), or -Infinity. */
  private lastRepairAt = -Infinity;
  private sequence = initialSequence();
  private probeSeq = 0;
  private probeOrder: string[] = [];
  /** Every protocol timer pending: stop() clears them. */
  private readonly pending = new Set<unknown>();
  /** Ends each plain wait under way (a LAN detection's) at once: stop() calls them. */
  private readonly waits = new Set<() => void>();
  /** The fan-out timer runs only while there is news: an idle agent wakes once per probe. */
  private gossipTimer?: unknown;
  /** No probe timer while alone: the table's first other member restarts probing (wakeProbe). */
  private probeParked = false;
  private running = false;
  /** Set by stop() (cleared by start()): nothing is sent or merged any more. */
  private halted = false;
  private leaving = false;

  private readonly time: GossipTime;
  private readonly random: () => number;

  constructor(private readonly options: GossipEngineOptions) {
    this.timings = { ...DEFAULT_TIMINGS, ...options.timings };
    this.time = {
      timers: options.timers ?? SYSTEM_TIME.timers,
      now: options.now ?? SYSTEM_TIME.now,
    };
    this.random = options.random ?? Math.random;
    this.awareness = new Awareness(this.timings.awarenessMax);
    this.table = new MemberTable(
      options.self.id,
      {
        multiplier: this.timings.suspicionMultiplier,
        maxMultiplier: this.timings.suspicionMaxMultiplier,
        probeIntervalMs: this.timings.probeIntervalMs,
      },
      (member) => this.suspicionTimedOut(member),
      () => this.wakeProbe(),
      options.maxMembers,
      this.time,
    );
    this.self = this.table.addSelf(options.self, 0);
    this.broadcasts = new BroadcastQueue(this.timings.retransmitMultiplier, () => this.table.liveCount());
    this.warnings = new RateLimitedLog(
      (message, fields) => this.options.onWarning?.(message, fields),
      this.time.now,
    );
    options.transport.onPacket((packet, from) => this.receive(packet, from));
    options.transport.onError((error) => this.socketError(error));
  }

  get selfMember(): Member {
    return this.self;
  }

  /** Whether the probe loop runs: not while stopped, nor while this node is alone. */
  get probing(): boolean {
    return this.running && !this.probeParked;
  }

  get localHealth(): number {
    return this.awareness.health;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.halted = false;
    this.scheduleProbe();
    this.schedulePushPull();
    this.every(Math.min(60_000, this.timings.reapAfterMs), () => {
      if (this.table.reap(this.timings.reapAfterMs) > 0) this.options.onReaped?.();
    });
  }

  /**
   * Stops every timer and ends every wait at once: after stop() nothing is sent, whatever was in
   * flight (a probe waiting for its ack, a ping-req run for another node, a push-pull).
   */
  stop(): void {
    this.running = false;
    this.halted = true;
    this.probeParked = false;
    for (const timer of this.pending) this.time.timers.clearTimeout(timer);
    this.pending.clear();
    this.gossipTimer = undefined;
    this.pushPullTimer = undefined;
    // The probe rounds waiting on these resume, see the engine stopped, and return.
    for (const waiter of [...this.waiters.values()]) waiter.cancel();
    for (const endWait of [...this.waits]) endWait();
    this.table.stopTimers();
  }

  get stopped(): boolean {
    return this.halted;
  }

  /** Changes this node's record (groups, checks, keys...) and tells the cluster. */
  updateSelf(changes: Partial<NodeRecord>): void {
    this.self.record = { ...this.self.record, ...changes };
    this.self.incarnation++;
    this.announceSelf();
  }

  /**
   * Sets a member's check summary (this node's own too) without a new incarnation: check deltas
   * carry the news (check-sync.ts), and push-pull the summaries; a record announced for every
   * check change would cost more than the change itself.
   */
  setCheckSummary(nodeId: string, summary: CheckSummary): void {
    const member = this.table.get(nodeId);
    if (member) member.record = { ...member.record, checks: summary };
  }

  /** Gossips a change of this node's check table (check-sync.ts keeps it under maxNewsBytes). */
  broadcastCheckDelta(delta: CheckDelta): void {
    // Alone, nobody holds a table the delta could apply to: whoever joins later reads the
    // version in this node's record and fetches the table whole. Queued, the deltas of a lone
    // node's first check pass (one per check) went out at its join, to every member, stale.
    if (this.table.liveCount() === 1) return;
    const message: CheckDeltaMessage = { type: MessageType.CheckDelta, ...delta };
    this.queue(`checks:${delta.nodeId}:${delta.summary.version}`, encodeMessage(message), BULK);
  }

  /** The largest message that rides in a packet (its own bytes, without the per-message header). */
  get maxNewsBytes(): number {
    return this.payloadBudget() - MESSAGE_OVERHEAD_BYTES;
  }

  /**
   * Joins through seeds: pings each (any node there may answer), learns them from their
   * answer, then syncs full state with them. Resolves with the number of seeds that answered.
   */
  async join(seeds: PacketAddress[], timeoutMs = 3000): Promise<number> {
    this.leaving = false;
    if (this.self.state !== 'alive') {
      this.self.state = 'alive';
      this.self.incarnation++;
    }
    const answered = await Promise.all(
      seeds.map(async (seed) => {
        const seq = this.nextProbeSeq();
        const acked = this.expectAck(seq, timeoutMs);
        // Our record rides along so the seed learns us from this very packet.
        this.send(seed, [{ type: MessageType.Ping, seq, targetId: ANY_NODE }, this.aliveMessage()]);
        return (await acked).responderId;
      }),
    );
    const responders = answered.filter((id): id is string => id !== undefined);
    // Full state from each seed that answered (whatever address it advertises).
    const seedMembers = responders
      .map((id) => this.table.get(id))
      .filter((member): member is Member => member !== undefined);
    const synced = await Promise.all(seedMembers.map((member) => this.syncWith(member, true)));
    // No full state yet (the seed's RPC refused us, e.g. while our keyrings differ): the next
    // push-pull comes soon instead of a whole interval later, or a restarted node could stay
    // unaware of the incarnation the cluster last saw it at, and be ignored until then.
    if (seedMembers.length && !synced.includes(true)) this.pushPullFailed();
    else if (synced.includes(true)) this.pushPullFailures = 0;
    // Announce ourselves too, now that push-pull told us who is there: news of a join spread by
    // the seed alone can run out of retransmits before it reaches every member (as memberlist,
    // which queues its own alive when it starts).
    if (responders.length) this.announceSelf();
    return responders.length;
  }

  /** Tells the cluster this node leaves (state `left`, not `dead`), then stops probing. */
  async leave(timeoutMs = 3000): Promise<void> {
    if (this.leaving) return;
    this.leaving = true;
    const message: Message = {
      type: MessageType.Dead,
      incarnation: this.self.incarnation,
      nodeId: this.self.record.id,
      fromId: this.self.record.id,
    };
    this.queue(`node:${this.self.record.id}`, encodeMessage(message));
    this.self.state = 'left';
    // Push the news out at once to a few members, then let the gossip rounds finish the job.
    const deadline = this.time.now() + timeoutMs;
    while (this.broadcasts.length > 0 && this.time.now() < deadline && this.gossipRound() > 0) {
      await new Promise<void>((resolve) =>
        this.time.timers.setTimeout(resolve, Math.min(this.timings.gossipIntervalMs, 50)),
      );
    }
  }

  /** Every member this node knows, itself included. */
  members(): Member[] {
    return this.table.all();
  }

  /** The member `id`, if this node knows it. */
  member(id: string): Member | undefined {
    return this.table.get(id);
  }

  localState(): StateEntry[] {
    return Array.from(this.table.values(), (member) => ({
      record: member.record,
      incarnation: member.incarnation,
      state: member.state,
    }));
  }

  /**
   * Merges a remote node's full state. A remote "dead" only makes us suspect (we check for
   * ourselves rather than trust one node's verdict); a remote "left" is taken as is.
   */
  mergeState(entries: StateEntry[], fromId: string, options: { gossip?: boolean } = {}): void {
    // A push-pull answered after stop(): its news would only start timers nobody stops.
    if (this.halted) return;
    const gossip = options.gossip ?? true;
    for (const entry of entries) {
      if (!gossip && entry.state === 'alive') {
        // A simulator bootstrapping a large cluster: learn the member without re-gossiping it.
        this.table.applyAlive(entry.record, entry.incarnation);
        continue;
      }
      const { record, incarnation } = entry;
      const nodeId = record.id;
      if (entry.state === 'alive') this.applyNews(this.aliveMessage(record, incarnation));
      else if (entry.state === 'left')
        this.applyNews({ type: MessageType.Dead, incarnation, nodeId, fromId: nodeId });
      else this.applyNews({ type: MessageType.Suspect, incarnation, nodeId, fromId });
    }
  }

  /** LAN detection: asks `targets` (broadcast addresses) who holds our key; collects answers. */
  async detect(targets: PacketAddress[], timeoutMs: number): Promise<NodeRecord[]> {
    const nonce = randomBytes(12).toString('hex');
    const found = new Map<string, NodeRecord>();
    this.detectWaiters.set(nonce, (record) => {
      if (found.size < MAX_DETECTED || found.has(record.id)) found.set(record.id, record);
    });
    if (!this.halted) {
      const packet = this.seal([encodeMessage({ type: MessageType.DetectProbe, nonce })]);
      for (const target of targets) this.options.transport.broadcast(target, packet);
      await this.wait(timeoutMs);
    }
    this.detectWaiters.delete(nonce);
    return [...found.values()];
  }

  /**
   * Gossips a keyring change to the cluster. The first round goes out at once, sealed with the
   * primary key of the moment: the caller changes its keyring after this call.
   */
  broadcastKeyOp(op: Omit<KeyOpMessage, 'type' | 'opId'>): void {
    const message: KeyOpMessage = { type: MessageType.KeyOp, opId: randomBytes(8).toString('hex'), ...op };
    this.seenKeyOps.add(message.opId);
    this.queue(`keyop:${message.opId}`, encodeMessage(message));
    this.gossipRound();
  }

  /** Sends `offer` to one member, sealed with the installed key `sealWith` (one it holds). */
  sendKeyOffer(to: PacketAddress, offer: Omit<KeyOfferMessage, 'type'>, sealWith: string): boolean {
    if (this.halted) return false;
    const payload = encodePacket({
      senderId: this.self.record.id,
      sequence: ++this.sequence,
      messages: [encodeMessage({ type: MessageType.KeyOffer, ...offer })],
    });
    const packet = this.options.keyring.sealWith(sealWith, payload);
    if (!packet) return false;
    this.stats.packetsOut++;
    this.stats.bytesOut += packet.length;
    this.options.transport.send(to, packet);
    return true;
  }

  // --- receiving ---------------------------------------------------------------------------

  private receive(packet: Buffer, from: PacketAddress): void {
    this.stats.packetsIn++;
    this.stats.bytesIn += packet.length;
    const opened = this.options.keyring.open(packet);
    if (!opened.ok) return this.drop(opened.reason, from);
    let decoded: ReturnType<typeof decodePacket>;
    try {
      decoded = decodePacket(opened.payload);
    } catch (error) {
      if (error instanceof DecodeError) return this.drop('malformed', from);
      throw error;
    }
    if (decoded.senderId === this.self.record.id) return;
    if (!this.replay.accept(decoded.senderId, decoded.sequence)) return this.drop('replay', from);
    for (const message of decoded.messages) this.handle(message, from, decoded.senderId);
  }

  /**
   * Why packets from `from` were dropped at or after `since` (the engine's clock, `now`), most
   * recent first: a join target that sends what our keyring cannot open holds another key.
   */
  dropsFrom(from: PacketAddress, since: number): DropReason[] {
    return this.dropsBySource.since(from, since);
  }

  /** The engine's clock (ms): what dropsFrom's `since` is measured on. */
  clock(): number {
    return this.time.now();
  }

  private drop(reason: DropReason, from: PacketAddress): void {
    this.stats.dropped[reason]++;
    this.dropsBySource.record(reason, from, this.time.now());
    // One warning per kind and minute is enough to notice a misconfigured or hostile peer.
    this.warnings.warn(`drop:${reason}`, 'gossip packets dropped', {
      reason,
      from: `${from.address}:${from.port}`,
      total: this.stats.dropped[reason],
    });
  }

  private socketError(error: SocketError): void {
    const counts = this.stats.socketErrors;
    const code =
      error.code in counts || Object.keys(counts).length < MAX_SOCKET_ERROR_CODES ? error.code : 'other';
    counts[code] = (counts[code] ?? 0) + 1;
    this.warnings.warn(`socket:${code}`, 'gossip socket errors', {
      code,
      error: error.message,
      total: counts[code],
    });
  }

  private handle(message: Message, from: PacketAddress, senderId: string): void {
    switch (message.type) {
      case MessageType.Ping:
        if (message.targetId !== this.self.record.id && message.targetId !== ANY_NODE)
          return this.drop('wrong-target', from);
        // A join ping (any node) gets our record back, so the joiner learns us.
        // Our record first, so the joiner knows us by the time it reads the ack.
        this.send(
          from,
          message.targetId === ANY_NODE
            ? [this.aliveMessage(), { type: MessageType.Ack, seq: message.seq }]
            : [{ type: MessageType.Ack, seq: message.seq, live: this.table.liveCount() }],
        );
        this.compareLiveCount(senderId, message.live);
        return;
      case MessageType.Ack:
        this.waiters.get(message.seq)?.onAck(senderId);
        this.compareLiveCount(senderId, message.live);
        return;
      case MessageType.Nack:
        this.waiters.get(message.seq)?.onNack();
        return;
      case MessageType.PingReq:
        return this.probeFor(
          message.seq,
          message.targetId,
          { address: message.address, port: message.port },
          from,
        );
      case MessageType.Alive:
      case MessageType.Suspect:
      case MessageType.Dead:
        return this.applyNews(message);
      case MessageType.DetectProbe:
        if (this.leaving) return;
        this.send(
          from,
          [{ type: MessageType.DetectReply, nonce: message.nonce, record: this.self.record }],
          false,
        );
        return;
      case MessageType.DetectReply:
        this.detectWaiters.get(message.nonce)?.(message.record);
        return;
      case MessageType.KeyOp:
        if (!this.seenKeyOps.add(message.opId)) return;
        if (this.options.onKeyOp?.(message) ?? true)
          this.queue(`keyop:${message.opId}`, encodeMessage(message));
        return;
      case MessageType.KeyOffer:
        this.options.onKeyOffer?.(message, senderId, from);
        return;
      case MessageType.CheckDelta: {
        const { type: _type, ...delta } = message;
        if (this.options.onCheckDelta?.(delta)) this.broadcastCheckDelta(delta);
        return;
      }
    }
  }

  /** Applies membership news (alive, suspect, dead) to the table, then publishes the outcome. */
  private applyNews(message: AliveMessage | SuspectMessage | DeadMessage): void {
    switch (message.type) {
      case MessageType.Alive:
        return this.apply(this.table.applyAlive(message.record, message.incarnation), message);
      case MessageType.Suspect:
        return this.apply(
          this.table.applySuspect(message.nodeId, message.incarnation, message.fromId),
          message,
        );
      case MessageType.Dead:
        return this.apply(this.table.applyDead(message.nodeId, message.incarnation, message.fromId), message);
    }
  }

  /** Publishes a rule's outcome: events, re-gossip, and a refutation when we were accused. */
  private apply(outcome: Outcome, cause: Message): void {
    if (outcome.refused) {
      this.warnings.warn('member-limit', 'member table full: a new member was ignored', {
        limit: this.table.maxMembers,
        node: cause.type === MessageType.Alive ? cause.record.name : undefined,
      });
    }
    for (const event of outcome.events) {
      this.options.onEvent?.(event);
      // Someone else suspects a member: a few nodes probe it next, so independent confirmations
      // (or not) come fast and Lifeguard's timer reaches its minimum sooner for a node that is
      // really gone. A few, not all: at N=100 every node probing at once is a storm.
      if (event.type === 'node-suspect' && 'fromId' in cause && cause.fromId !== this.self.record.id) {
        // Bounded: a burst of suspicions must not grow the probe list beyond one pass of the table.
        const room = this.probeOrder.length < this.table.liveCount();
        if (room && this.random() < PROMPT_CONFIRMERS / Math.max(1, this.table.liveCount() - 2)) {
          this.probeOrder.push(event.member.record.id);
        }
      }
    }
    if (outcome.rebroadcast && 'nodeId' in cause) this.queue(`node:${cause.nodeId}`, encodeMessage(cause));
    else if (outcome.rebroadcast && cause.type === MessageType.Alive) {
      this.queue(`node:${cause.record.id}`, encodeMessage(cause));
      const member = this.table.get(cause.record.id);
      if (member) this.options.onRecord?.(member);
    }
    if (outcome.refuteWith !== undefined && !this.leaving) {
      this.self.incarnation = Math.max(this.self.incarnation, outcome.refuteWith);
      // Being accused is a sign our own network or process may be slow.
      this.awareness.apply(1);
      this.announceSelf();
      const refutation = [this.aliveMessage()];
      for (const member of this.randomMembers(
        REFUTATION_FANOUT,
        (candidate) => candidate.state === 'alive' || candidate.state === 'suspect',
      )) {
        this.send({ address: member.record.address, port: member.record.port }, refutation, false);
      }
    }
  }

  private suspicionTimedOut(member: Member): void {
    if (member.state !== 'suspect') return;
    this.applyNews({
      type: MessageType.Dead,
      incarnation: member.incarnation,
      nodeId: member.record.id,
      fromId: this.self.record.id,
    });
  }

  // --- probing -----------------------------------------------------------------------------

  private scheduleProbe(): void {
    if (!this.running) return;
    // Alone, there is nobody to probe: a lone agent must not wake up every period for nothing.
    if (this.table.liveCount() === 1) {
      this.probeParked = true;
      return;
    }
    // Local health awareness: a struggling node probes less often and waits longer.
    const timer = this.later(() => {
      this.pending.delete(timer);
      void this.probeRound().finally(() => this.scheduleProbe());
    }, this.awareness.scale(this.timings.probeIntervalMs));
  }

  /** Restarts the probe loop parked while this node was alone (the table calls it on a first member). */
  private wakeProbe(): void {
    if (!this.probeParked) return;
    this.probeParked = false;
    this.scheduleProbe();
  }

  private async probeRound(): Promise<void> {
    if (this.leaving) return;
    const target = this.nextProbeTarget();
    if (!target) return;
    const seq = this.nextProbeSeq();
    const startedAt = this.time.now();
    const periodMs = this.awareness.scale(this.timings.probeIntervalMs);
    const probeTimeoutMs = this.awareness.scale(this.timings.probeTimeoutMs);

    const direct = this.expectAck(seq, probeTimeoutMs);
    this.options.onDebug?.('probe', { node: target.record.name, seq });
    this.send(target.record, [
      { type: MessageType.Ping, seq, targetId: target.record.id, live: this.table.liveCount() },
    ]);
    const directResult = await direct;
    // Stopped while waiting (stop() ends every wait): nothing more to send or decide.
    if (!this.running) return;
    if (directResult.acked) {
      target.rttMs = this.time.now() - startedAt;
      this.awareness.apply(-1);
      return;
    }

    // Indirect: k other members probe the target for us and forward the ack, or send a nack.
    const helpers = this.randomMembers(
      this.timings.indirectChecks,
      (member) => member.state === 'alive' && member !== target,
    );
    const indirect = this.expectAck(seq, Math.max(0, periodMs - (this.time.now() - startedAt)));
    const { id: targetId, address, port } = target.record;
    if (helpers.length) {
      this.options.onDebug?.('indirect probe', {
        node: target.record.name,
        through: helpers.map((helper) => helper.record.name).join(','),
      });
    }
    for (const helper of helpers) {
      this.send(helper.record, [{ type: MessageType.PingReq, seq, targetId, address, port }]);
    }
    const result = await indirect;
    if (!this.running) return;
    if (result.acked) {
      // The target answered through others: a success for our health, as in memberlist.
      this.awareness.apply(-1);
      return;
    }
    // A failed probe: missing nacks mean our own messages or theirs get lost, so count them
    // against our health; with no helper to tell us, any failure counts.
    this.awareness.apply(helpers.length > 0 ? helpers.length - result.nacks : 1);
    // A failed probe of a member already suspected is an independent confirmation (Lifeguard).
    if (target.state !== 'alive' && target.state !== 'suspect') return;
    this.applyNews({
      type: MessageType.Suspect,
      incarnation: target.incarnation,
      nodeId: target.record.id,
      fromId: this.self.record.id,
    });
  }

  /** A ping-req: probe `targetId` for `requester`, forward its ack, or nack in time. */
  private probeFor(
    requesterSeq: number,
    targetId: string,
    target: PacketAddress,
    requester: PacketAddress,
  ): void {
    // Each costs a waiter and a ping to an address the requester chose: a flood of ping-reqs
    // (from a key holder) must not grow them without bound.
    if (this.probesForOthers >= MAX_PROBES_FOR_OTHERS) return this.drop('overload', requester);
    this.probesForOthers++;
    const seq = this.nextProbeSeq();
    this.options.onDebug?.('probe for another node', { target: `${target.address}:${target.port}` });
    // The nack must reach the requester before its own deadline: 80% of a probe timeout.
    void this.expectAck(seq, Math.round(this.timings.probeTimeoutMs * 0.8)).then(({ acked }: AckResult) => {
      this.probesForOthers--;
      if (!this.running) return;
      this.send(requester, [{ type: acked ? MessageType.Ack : MessageType.Nack, seq: requesterSeq }]);
    });
    this.send(target, [{ type: MessageType.Ping, seq, targetId }]);
  }

  private expectAck(seq: number, timeoutMs: number): Promise<AckResult> {
    return new Promise((resolve) => {
      let nacks = 0;
      const finish = (acked: boolean, responderId?: string) => {
        this.time.timers.clearTimeout(timer);
        if (this.waiters.get(seq) === waiter) this.waiters.delete(seq);
        resolve({ acked, nacks, responderId });
      };
      const waiter: AckWaiter = {
        onAck: (responderId) => finish(true, responderId),
        onNack: () => nacks++,
        cancel: () => finish(false),
      };
      const timer = this.time.timers.setTimeout(() => finish(false), timeoutMs, true);
      this.waiters.set(seq, waiter);
    });
  }

  /** Round-robin over a shuffled list, so every member is probed once per pass. */
  private nextProbeTarget(): Member | undefined {
    // Alone (nobody else alive or suspect): nothing to probe, so no list to build every period.
    if (this.table.liveCount() === 1) return undefined;
    for (let attempts = 0; attempts < 2; attempts++) {
      while (this.probeOrder.length) {
        const member = this.table.get(this.probeOrder.pop()!);
        if (member && member !== this.self && (member.state === 'alive' || member.state === 'suspect'))
          return member;
      }
      this.probeOrder = [];
      for (const member of this.table.values()) {
        if (member !== this.self) this.probeOrder.push(member.record.id);
      }
      shuffle(this.probeOrder, this.random);
    }
    return undefined;
  }

  private nextProbeSeq(): number {
    this.probeSeq = (this.probeSeq + 1) % Number.MAX_SAFE_INTEGER;
    return this.probeSeq;
  }

  // --- gossip and push-pull ----------------------------------------------------------------

  /**
   * Sends queued news to a few random members: faster than waiting for probes to carry it.
   * Returns how many members it could reach (0: alone, nobody to tell yet).
   */
  private gossipRound(): number {
    if (this.broadcasts.length === 0) return 0;
    const targets = this.gossipTargets();
    for (const member of targets) {
      const news = this.broadcasts.take(this.payloadBudget(), MESSAGE_OVERHEAD_BYTES);
      if (!news.length) break;
      this.transmit(member.record, news);
    }
    return targets.length;
  }

  private gossipTargets(): Member[] {
    const recentlyDead = this.time.now() - this.timings.gossipToTheDeadMs;
    return this.randomMembers(
      this.timings.gossipNodes,
      (member) =>
        member.state === 'alive' ||
        member.state === 'suspect' ||
        (member.state === 'dead' && member.stateChangedAt > recentlyDead),
    );
  }

  /**
   * Like memberlist: past 32 members, push-pull slows with log2 N, or its cost would grow with N.
   * After a failure the next comes sooner (1 s, doubling up to the interval): a push-pull fails
   * while two nodes' primary keys differ (the RPC's private network follows it), which lasts as
   * long as a key change takes to reach both.
   */
  private schedulePushPull(): void {
    if (!this.running) return;
    if (this.pushPullTimer !== undefined) {
      this.time.timers.clearTimeout(this.pushPullTimer);
      this.pending.delete(this.pushPullTimer);
    }
    const intervalMs = pushPullInterval(this.timings.pushPullIntervalMs, this.table.liveCount());
    const delayMs = this.pushPullFailures
      ? Math.min(intervalMs, PUSH_PULL_RETRY_MS * 2 ** Math.min(this.pushPullFailures - 1, 16))
      : intervalMs;
    const timer = this.later(() => {
      this.pending.delete(timer);
      this.pushPullTimer = undefined;
      if (!this.running) return;
      void this.pushPullRound().finally(() => {
        if (this.pushPullTimer === undefined) this.schedulePushPull();
      });
    }, delayMs);
    this.pushPullTimer = timer;
  }

  /** A push-pull failed (or a join got no full state): the next one comes sooner. */
  private pushPullFailed(): void {
    this.pushPullFailures++;
    if (this.pushPullFailures === 1) this.schedulePushPull();
  }

  private async pushPullRound(): Promise<void> {
    if (this.leaving) return;
    const member = this.nextPushPullPartner();
    if (!member) return;
    if (await this.syncWith(member, false)) {
      this.pushPullFailures = 0;
    } else {
      this.pushPullFailures++;
      this.pushPullPartner = undefined;
    }
  }

  /** A member knows more live members than we do: sync with it now if gossip is done (REPAIR_*). */
  private compareLiveCount(senderId: string, live: number | undefined): void {
    if (live === undefined || live <= this.table.liveCount() || this.leaving) return;
    const now = this.time.now();
    const probeMs = this.timings.probeIntervalMs;
    if (now - this.table.liveChangedAt < REPAIR_QUIET_PROBES * probeMs) return;
    if (now - this.lastRepairAt < REPAIR_EVERY_PROBES * probeMs) return;
    const member = this.table.get(senderId);
    if (member?.state !== 'alive') return;
    this.lastRepairAt = now;
    this.stats.repairs++;
    this.options.onDebug?.('membership gap', { node: member.record.name, theirs: live });
    void this.syncWith(member, false);
  }

  /** The current partner while it has rounds left and is alive; else a new one, at random. */
  private nextPushPullPartner(): Member | undefined {
    const partner = this.pushPullPartner;
    let member = partner?.roundsLeft ? this.table.get(partner.id) : undefined;
    if (member?.state !== 'alive') {
      [member] = this.randomMembers(1, (candidate) => candidate.state === 'alive');
      this.pushPullPartner = member && { id: member.record.id, roundsLeft: PUSH_PULL_PARTNER_ROUNDS };
    }
    if (this.pushPullPartner) this.pushPullPartner.roundsLeft--;
    return member;
  }

  /** One push-pull; false when it failed (logged). */
  private async syncWith(member: Member, joining: boolean): Promise<boolean> {
    if (!this.options.syncState) return true;
    this.options.onDebug?.('push-pull', { node: member.record.name });
    try {
      await this.options.syncState(member, joining);
      return true;
    } catch (error) {
      // A push-pull cut short by stop() is no news.
      if (!this.halted) {
        this.options.onWarning?.('push-pull failed', {
          node: member.record.name,
          error: messageOf(error),
        });
      }
      return false;
    }
  }

  // --- sending -----------------------------------------------------------------------------

  /**
   * Fans news out every gossip interval until the queue is empty. The first round after a quiet
   * spell goes out almost at once (news arriving together is coalesced for a few ms).
   */
  private scheduleGossip(delayMs = Math.min(FIRST_GOSSIP_DELAY_MS, this.timings.gossipIntervalMs)): void {
    if (this.gossipTimer !== undefined || !this.running) return;
    this.gossipTimer = this.later(() => {
      this.pending.delete(this.gossipTimer);
      this.gossipTimer = undefined;
      if (!this.running) return;
      const reached = this.gossipRound();
      // Alone, the news waits: the next member to appear queues news of its own, which restarts
      // the fan-out (a lone agent must not wake up every gossip interval for nothing).
      if (reached > 0 && this.broadcasts.length > 0) this.scheduleGossip(this.timings.gossipIntervalMs);
    }, delayMs);
  }

  /** Queues news for piggyback; news too big for any packet spreads by push-pull only. */
  private queue(key: string, bytes: Uint8Array, priority = 0): void {
    if (bytes.length + MESSAGE_OVERHEAD_BYTES > this.payloadBudget()) {
      this.options.onWarning?.(
        'gossip message larger than a packet (mtu_bytes); it spreads by push-pull only',
        {
          key,
          bytes: bytes.length,
        },
      );
      return;
    }
    this.broadcasts.enqueue(key, bytes, priority);
    this.scheduleGossip();
  }

  private announceSelf(): void {
    this.queue(`node:${this.self.record.id}`, encodeMessage(this.aliveMessage()));
  }

  private aliveMessage(record = this.self.record, incarnation = this.self.incarnation): AliveMessage {
    return { type: MessageType.Alive, incarnation, record };
  }

  /** Sends `messages`, filling the rest of the packet with queued news unless `piggyback` is off. */
  private send(to: PacketAddress, messages: Message[], piggyback = true): void {
    const encoded = messages.map(encodeMessage);
    if (piggyback) {
      const used = encoded.reduce((total, bytes) => total + bytes.length + MESSAGE_OVERHEAD_BYTES, 0);
      encoded.push(...this.broadcasts.take(Math.max(0, this.payloadBudget() - used), MESSAGE_OVERHEAD_BYTES));
    }
    this.transmit(to, encoded);
  }

  private transmit(to: PacketAddress, messages: Uint8Array[]): void {
    // Nothing leaves a stopped engine: its socket may be closed already.
    if (this.halted) return;
    const packet = this.seal(messages);
    this.stats.packetsOut++;
    this.stats.bytesOut += packet.length;
    this.options.transport.send(to, packet);
  }

  private seal(messages: Uint8Array[]): Buffer {
    this.sequence++;
    return this.options.keyring.seal(
      encodePacket({ senderId: this.self.record.id, sequence: this.sequence, messages }),
    );
  }

  private payloadBudget(): number {
    return this.timings.mtuBytes - PACKET_OVERHEAD_BYTES - ENCRYPTION_OVERHEAD_BYTES;
  }

  /** `count` random members that `accept` takes (not this node): one pass, a partial shuffle. */
  private randomMembers(count: number, accept: (member: Member) => boolean): Member[] {
    const candidates: Member[] = [];
    for (const member of this.table.values()) {
      if (member !== this.self && accept(member)) candidates.push(member);
    }
    return shuffle(candidates, this.random, count);
  }

  private every(intervalMs: number, run: () => void): void {
    const schedule = () => {
      const timer = this.later(() => {
        this.pending.delete(timer);
        if (!this.running) return;
        run();
        schedule();
      }, intervalMs);
    };
    schedule();
  }

  /** Resolves after `delayMs`, or at once when the engine stops. */
  private wait(delayMs: number): Promise<void> {
    return new Promise((resolve) => {
      const end = () => {
        this.time.timers.clearTimeout(timer);
        this.pending.delete(timer);
        this.waits.delete(end);
        resolve();
      };
      const timer = this.later(end, delayMs);
      this.waits.add(end);
    });
  }

  /**
   * A protocol timer, cleared by stop(). Timers never keep the process alive on their own (the
   * agent's listeners do).
   */
  private later(callback: () => void, delayMs: number): unknown {
    const timer = this.time.timers.setTimeout(callback, delayMs, true);
    this.pending.add(timer);
    return timer;
  }
}

/** The push-pull interval for a cluster of `clusterSize`: × (ceil(log2 N - log2 32) + 1) past 32. */
export function pushPullInterval(intervalMs: number, clusterSize: number): number {
  if (clusterSize <= 32) return intervalMs;
  return intervalMs * (Math.ceil(Math.log2(clusterSize) - Math.log2(32)) + 1);
}

/**
 * Shuffles `items` in place and keeps the first `count` (Fisher-Yates, stopped after `count` draws):
 * a uniform random pick of `count`, without shuffling the rest of a large member list.
 */
function shuffle<T>(items: T[], random: () => number, count = items.length): T[] {
  const picks = Math.min(count, items.length);
  for (let index = 0; index < picks; index++) {
    const other = index + Math.floor(random() * (items.length - index));
    [items[index], items[other]] = [items[other]!, items[index]!];
  }
  items.length = picks;
  return items;
}
