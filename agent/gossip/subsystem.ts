// Gossip as an agent subsystem: binds the UDP transport, owns the keyring (kept in step with the
// cluster by keyring-sync.ts) and the cluster RPC used for push-pull and check-table fetches
// (rpc-follower.ts), spreads check state (check-sync.ts), joins seeds at boot, publishes membership
// events on the bus and offers the /agent/members, /agent/join, /agent/leave, /agent/detect and
// /gossip/* routes.
import type { MetricFamily } from '../shared/exposition.js';
import type { Route } from '../shared/http.js';
import type { AgentSettings } from '../config/index.js';
import type { EventBus, NodeSummary } from '../events/index.js';
import type { Logger } from '../log/index.js';
import { messageOf } from '../shared/errors.js';
import { isNotServed } from '../rpc/failures.js';
import { requestNewest } from '../rpc/versioned.js';
import type { ClusterRpc, HandleOptions, RpcHandler } from '../rpc/types.js';
import type { Subsystem } from '../subsystem.js';
import type { NodeCheckTable, SubsystemState } from '../shared/api-types.js';
import type { Timers } from '../shared/timers.js';
import {
  CHECK_TABLE_PROTOCOL,
  CHECK_TABLE_PROTOCOL_V1,
  CHECK_TABLES_PROTOCOL,
  CHECK_TABLES_PROTOCOL_V1,
  type CheckRelay,
  CheckSync,
  type CheckSyncStats,
  type CheckSyncTimings,
  epochAt,
  localSummary,
} from './check-sync.js';
import { advertiseAddress, broadcastAddresses, resolveSeed } from './addresses.js';
import { type ClusterBind, clusterBind } from './bind.js';
import {
  decodeStateExchange,
  encodeStateExchange,
  type KeyOpMessage,
  type NodeRecord,
  type StateEntry,
} from './codec.js';
import { GossipEngine, type GossipTimings } from './engine.js';
import { explainSilence, probeRpc } from './join-diagnosis.js';
import type { Keyring } from './keyring.js';
import type { KeyringStore } from './keyring-store.js';
import { KeyringSync } from './keyring-sync.js';
import { type KeyringStatus } from '../shared/api-types.js';
import type { Member, MembershipEvent } from './members.js';
import {
  decodeReply,
  decodeRequest,
  digestHash,
  digestOf,
  encodeReply,
  encodeRequest,
  exchangeFor,
  hashMatches,
  PUSH_PULL_PROTOCOL,
  PUSH_PULL_PROTOCOL_V1,
  type PushPullReply,
} from './push-pull.js';
import { gossipRoutes } from './routes.js';
import { RpcFollower } from './rpc-follower.js';
import { type PacketAddress, UdpTransport } from './transport.js';
import type { ClusterView, MemberView } from '../shared/api-types.js';

export { PUSH_PULL_PROTOCOL } from './push-pull.js';

/** How far back dropped packets from a join target count as evidence of its key (join-diagnosis.ts). */
const RECENT_DROPS_MS = 60_000;

export interface GossipSubsystemOptions {
  settings: AgentSettings;
  nodeId: string;
  nodeName: string;
  version: string;
  keyringStore: KeyringStore;
  /** Builds the cluster RPC on `host` for a cluster key (rebuilt when the primary key changes). */
  createRpc: (clusterKey: Buffer | undefined, host: string) => ClusterRpc;
  events: EventBus;
  logger: Logger;
  /** `agent start --auto-detect`: detect a cluster on the LAN at boot until one answers. */
  autoDetect?: boolean;
  /**
   * This node's check table (the checks subsystem's; called from gossip's start on, before the
   * checks subsystem starts too). Undefined: this node has no checks (it still holds the others').
   */
  localCheckTable?: () => NodeCheckTable;
  /** Check sync's delays and bounds (check-sync.ts); tests shorten them. */
  checkSyncTimings?: Partial<CheckSyncTimings>;
  /** The clock and timers of the engine and of check sync; tests drive them. Node's by default. */
  time?: { timers: Timers; now: () => number };
}

/** The cluster RPC protocols gossip serves itself (servePushPull). */
const GOSSIP_PROTOCOLS: readonly string[] = [
  PUSH_PULL_PROTOCOL,
  PUSH_PULL_PROTOCOL_V1,
  CHECK_TABLE_PROTOCOL,
  CHECK_TABLE_PROTOCOL_V1,
  CHECK_TABLES_PROTOCOL,
  CHECK_TABLES_PROTOCOL_V1,
];

export class GossipSubsystem implements Subsystem {
  readonly name = 'gossip';
  private engine?: GossipEngine;
  private transport?: UdpTransport;
  private rpc?: RpcFollower;
  private keyring!: Keyring;
  private keySync?: KeyringSync;
  private checkSync?: CheckSync;
  private status: SubsystemState = { status: 'initializing' };
  private stopped = false;
  private groups: string[];
  /** Where gossip and RPC listen, chosen at start once the keyring is known. */
  private bind?: ClusterBind;
  /** Other subsystems' protocols on the cluster RPC (KV), registered on every RPC gossip starts. */
  private readonly services = new Map<string, { handler: RpcHandler; options: HandleOptions }>();
  /** The index of the disabled-checks set this node announces (announceCheckSwitches). */
  private checkSwitches = 0;
  /** Push-pulls by side and outcome ("sent|in-sync"), for the Prometheus exposition. */
  private readonly pushPulls = new Map<string, number>();

  constructor(private readonly options: GossipSubsystemOptions) {
    this.groups = [...options.settings.groups];
    options.events.on('groups-changed', ({ groups }) => {
      this.groups = [...groups];
      this.engine?.updateSelf({ groups: [...groups].sort() });
    });
    options.events.on('check-table-changed', (change) => this.checkSync?.onLocalChange(change));
  }

  get encryptionEnabled(): boolean {
    return this.keyring?.enabled ?? Boolean(this.options.settings.encryption_key);
  }

  async start(): Promise<void> {
    const { settings, logger } = this.options;
    const loaded = this.options.keyringStore.load(settings.encryption_key);
    this.keyring = loaded.keyring;
    if (loaded.note) logger.warn(loaded.note);
    const bind = clusterBind(settings.bind_addr, this.keyring.enabled, settings.allow_unencrypted_cluster);
    this.bind = bind;
    if (bind.loopbackOnly) logger.warn(bind.loopbackOnly);
    if (bind.unencrypted) logger.warn(bind.unencrypted);
    const keySync = new KeyringSync({
      keyring: this.keyring,
      save: (keyring) => this.options.keyringStore.save(keyring),
      onPrimaryChange: () => this.rpc?.follow(),
      log: logger,
      keyOffers: settings.gossip.key_offers,
    });
    this.keySync = keySync;
    this.transport = await UdpTransport.bind({
      address: bind.address,
      port: settings.gossip.port,
    });
    this.rpc = new RpcFollower({
      create: (key) => this.options.createRpc(key, bind.address),
      setup: (rpc) => this.servePushPull(rpc),
      currentKey: () => this.keyring.primary,
      onRestarted: (rpc) => {
        if (this.status.status === 'degraded') this.status = { status: 'ok' };
        logger.info('cluster RPC follows the primary key', { primary: this.keyring.primaryFingerprint() });
        if (this.engine && this.engine.selfMember.record.peerId !== rpc.peerId)
          this.engine.updateSelf({ peerId: rpc.peerId });
      },
      onFailure: (error, retryInMs) => {
        this.status = { status: 'degraded', message: `cluster RPC restart failed: ${messageOf(error)}` };
        logger.warn('cluster RPC restart failed, retrying', {
          error: messageOf(error),
          retry_in_ms: retryInMs,
        });
      },
    });
    try {
      await this.rpc.start();
    } catch (error) {
      await this.transport.close();
      throw error;
    }
    // This start's numbering of the check table: versions from before a restart are older.
    const checkEpoch = epochAt((this.options.time?.now ?? Date.now)());
    const self: NodeRecord = {
      id: this.options.nodeId,
      name: this.options.nodeName,
      address: advertiseAddress(bind.address, settings.advertise_addr),
      port: this.transport.local.port,
      rpcPort: settings.rpc.port,
      peerId: this.rpc.current!.peerId,
      datacenter: settings.datacenter,
      groups: [...this.groups].sort(),
      checks: localSummary(this.options.localCheckTable?.(), checkEpoch),
      version: this.options.version,
      keys: this.keyring.fingerprints(),
      primaryKey: this.keyring.primaryFingerprint(),
      keyGeneration: this.keyring.generation,
      ...(this.checkSwitches ? { checkSwitches: this.checkSwitches } : {}),
    };
    this.engine = new GossipEngine({
      self,
      transport: this.transport,
      keyring: this.keyring,
      timings: timingsFrom(settings),
      onEvent: (event) => this.publish(event),
      syncState: (member, joining) => this.pushPull(member, joining),
      onKeyOp: (message) => keySync.onKeyOp(message),
      onKeyOffer: (offer, senderId, from) => keySync.onKeyOffer(offer, senderId, from),
      onCheckDelta: (delta) => this.checkSync?.onDelta(delta) ?? false,
      onRecord: (member) => this.checkSync?.onRecord(member),
      onReaped: () => this.checkSync?.prune(),
      onWarning: (message, fields) => logger.warn(message, fields),
      onDebug: (message, fields) => logger.debug(message, fields),
      ...(this.options.time ?? {}),
    });
    this.checkSync = new CheckSync({
      selfId: this.options.nodeId,
      epoch: checkEpoch,
      engine: this.engine,
      localTable: this.options.localCheckTable,
      request: (member, payload, timeoutMs) =>
        this.requestOf(member, [CHECK_TABLE_PROTOCOL, CHECK_TABLE_PROTOCOL_V1], payload, timeoutMs),
      relay: this.checkRelay(),
      timings: this.options.checkSyncTimings,
      ...(this.options.time ?? {}),
      onWarning: (message, fields) => logger.warn(message, fields),
    });
    this.engine.start();
    keySync.attach(this.engine);
    this.status = { status: 'ok' };
    logger.info('gossip listening', {
      udp: `${this.transport.local.address}:${this.transport.local.port}`,
      advertise: `${self.address}:${self.port}`,
      rpc: `${bind.address}:${settings.rpc.port}`,
      encryption: this.keyring.enabled ? 'aes-256-gcm' : 'none',
    });
    if (settings.seeds.length) void this.joinSeedsWithBackoff(settings.seeds);
    else if (this.options.autoDetect) void this.autoDetect();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    // leave() returns at once when an operator already made this node leave.
    await this.engine?.leave(1500).catch(() => undefined);
    this.keySync?.stop();
    this.checkSync?.stop();
    // Before the socket closes: nothing is sent after this, whatever was in flight.
    this.engine?.stop();
    await Promise.all([this.transport?.close(), this.rpc?.stop()]);
    this.status = { status: 'stopped' };
  }

  state(): SubsystemState {
    if (this.status.status !== 'ok' || !this.engine) return this.status;
    if (this.hasLeft) return { status: 'ok', message: 'left the cluster (gossip join to come back)' };
    const health = this.engine.localHealth;
    return health > 0
      ? { status: 'ok', message: `local health score ${health} (probing slower)` }
      : this.status;
  }

  routes(): Route[] {
    return gossipRoutes(this);
  }

  /** The address this node advertises ('' before gossip started): `$address$` of script checks. */
  advertisedAddress(): string {
    return this.engine?.selfMember.record.address ?? '';
  }

  /** Where the cluster listens and what it advertises, with the warnings `agent info` shows. */
  cluster(): ClusterView {
    const self = this.engine?.selfMember.record;
    return {
      bind: this.bind?.address ?? this.options.settings.bind_addr,
      advertise: self ? `${self.address}:${self.port}` : '',
      gossip_port: this.transport?.local.port ?? this.options.settings.gossip.port,
      rpc_port: this.options.settings.rpc.port,
      ...(this.bind?.loopbackOnly ? { loopback_only: this.bind.loopbackOnly } : {}),
      ...(this.bind?.unencrypted ? { unencrypted: this.bind.unencrypted } : {}),
    };
  }

  /** Ports this subsystem listens on, for /agent/info. */
  ports(): Record<string, number> {
    return {
      gossip: this.transport?.local.port ?? this.options.settings.gossip.port,
      rpc: this.options.settings.rpc.port,
    };
  }

  members(): MemberView[] {
    const selfId = this.options.nodeId;
    return (this.engine?.members() ?? [])
      .map((member) => view(member, selfId))
      .sort((a, b) => a.name.localeCompare(b.name));
  }

  /** Announces, in this node's record, the index of the disabled-checks set it holds. */
  announceCheckSwitches(index: number): void {
    if (index === this.checkSwitches) return;
    this.checkSwitches = index;
    this.engine?.updateSelf({ checkSwitches: index });
  }

  /** The highest index of the disabled-checks set another live (alive or suspect) member announces (0: none). */
  highestCheckSwitches(): number {
    let highest = 0;
    for (const member of this.engine?.members() ?? [])
      if (
        (member.state === 'alive' || member.state === 'suspect') &&
        member.record.id !== this.options.nodeId
      )
        highest = Math.max(highest, member.record.checkSwitches ?? 0);
    return highest;
  }

  exposition(): MetricFamily[] {
    const stats = () => this.engine?.stats;
    return [
      {
        name: 'opsbro_gossip_packets_total',
        help: 'gossip UDP packets, by direction',
        type: 'counter',
        labelNames: ['direction'],
        samples: () => [
          { labels: { direction: 'in' }, value: stats()?.packetsIn ?? 0 },
          { labels: { direction: 'out' }, value: stats()?.packetsOut ?? 0 },
        ],
      },
      {
        name: 'opsbro_gossip_bytes_total',
        help: 'gossip UDP bytes, by direction',
        type: 'counter',
        labelNames: ['direction'],
        samples: () => [
          { labels: { direction: 'in' }, value: stats()?.bytesIn ?? 0 },
          { labels: { direction: 'out' }, value: stats()?.bytesOut ?? 0 },
        ],
      },
      {
        name: 'opsbro_gossip_dropped_packets_total',
        help: 'gossip packets dropped, by reason',
        type: 'counter',
        labelNames: ['reason'],
        samples: () =>
          Object.entries(stats()?.dropped ?? {}).map(([reason, value]) => ({ labels: { reason }, value })),
      },
      {
        name: 'opsbro_rpc_requests_total',
        help: 'cluster RPC requests this node sent and served, by protocol and outcome (ok or the error)',
        type: 'counter',
        labelNames: ['direction', 'protocol', 'outcome'],
        samples: () =>
          (this.rpc?.current?.requestCounts?.() ?? []).map(({ direction, protocol, outcome, count }) => ({
            labels: { direction, protocol, outcome },
            value: count,
          })),
      },
      {
        name: 'opsbro_rpc_connections_opened_total',
        help: 'cluster RPC connections opened (handshake done), by direction: each costs a Noise handshake',
        type: 'counter',
        labelNames: ['direction'],
        samples: () => {
          const counts = this.rpc?.current?.connectionCounts?.() ?? { inbound: 0, outbound: 0 };
          return [
            { labels: { direction: 'inbound' }, value: counts.inbound },
            { labels: { direction: 'outbound' }, value: counts.outbound },
          ];
        },
      },
      {
        name: 'opsbro_gossip_push_pulls_total',
        help:
          'push-pulls this node sent and served, by outcome: in-sync (digests matched), exchanged ' +
          '(records of differing members traded), full (a join), digest (served: a digest answered), v1',
        type: 'counter',
        labelNames: ['side', 'outcome'],
        samples: () =>
          [...this.pushPulls].map(([key, value]) => {
            const [side, outcome] = key.split('|');
            return { labels: { side: side!, outcome: outcome! }, value };
          }),
      },
      {
        name: 'opsbro_gossip_membership_repairs_total',
        help: 'push-pulls started because a member counted more live members: news gossip missed here',
        type: 'counter',
        samples: () => [{ value: stats()?.repairs ?? 0 }],
      },
      {
        name: 'opsbro_gossip_members',
        help: 'cluster members this node knows, itself included, by state',
        type: 'gauge',
        labelNames: ['state'],
        samples: () => {
          const counts = { alive: 0, suspect: 0, dead: 0, left: 0, ...this.memberCounts() };
          return Object.entries(counts).map(([state, value]) => ({ labels: { state }, value }));
        },
      },
    ];
  }

  /** Members by state (alive, suspect, dead, left), this node included. */
  memberCounts(): Record<string, number> {
    const counts: Record<string, number> = {};
    for (const member of this.engine?.members() ?? []) counts[member.state] = (counts[member.state] ?? 0) + 1;
    return counts;
  }

  /** Whether an operator made this node leave (it runs on, alone, until it joins again). */
  get hasLeft(): boolean {
    return this.engine?.selfMember.state === 'left';
  }

  /** The fingerprint of the key this node sends with ('' without one). */
  primaryFingerprint(): string {
    return this.keyring?.primaryFingerprint() ?? '';
  }

  /**
   * Joins through `seeds` (HOST or HOST:PORT). When none answers, `unanswered` says why for each
   * one that resolved (join-diagnosis.ts): another cluster key, no key, nothing there.
   */
  async join(seeds: string[]): Promise<{ joined: number; errors: string[]; unanswered: string[] }> {
    const engine = this.requireEngine();
    const errors: string[] = [];
    const targets: Array<{ seed: string; address: PacketAddress }> = [];
    for (const seed of seeds) {
      try {
        targets.push({ seed, address: await resolveSeed(seed, this.options.settings.gossip.port) });
      } catch (error) {
        errors.push(messageOf(error));
      }
    }
    // Packets the target sent lately count: one that retries joining us with another key pings
    // us once per attempt, its attempts backing off to 30 s apart.
    const startedAt = engine.clock() - RECENT_DROPS_MS;
    const joined = targets.length ? await engine.join(targets.map((target) => target.address)) : 0;
    if (joined) {
      this.options.logger.info('joined the cluster', { seeds: seeds.join(','), answered: joined });
      return { joined, errors, unanswered: [] };
    }
    const unanswered = await Promise.all(
      targets.map(({ seed, address }) => this.whyUnanswered(engine, seed, address, startedAt)),
    );
    return { joined, errors, unanswered };
  }

  /** Why `address` (the operator's `seed`) did not answer a join; `since`: drops counted from then. */
  private async whyUnanswered(
    engine: GossipEngine,
    seed: string,
    address: PacketAddress,
    since: number,
  ): Promise<string> {
    const local = this.transport?.local;
    if (local && local.address === address.address && local.port === address.port)
      return `${seed} is this node itself`;
    const keyed = this.keyring.enabled;
    const rpcPort = this.options.settings.rpc.port;
    const rpc = this.rpc?.current;
    const outcome = rpc ? await probeRpc(rpc, address.address, rpcPort, keyed) : undefined;
    // Packets from the target that arrived while the probe ran count too.
    const drops = engine.dropsFrom(address, since);
    return explainSilence(
      seed,
      address.address,
      { gossip: address.port, rpc: rpcPort },
      { drops, rpc: outcome, keyed },
    );
  }

  async leave(): Promise<void> {
    await this.requireEngine().leave();
    this.options.logger.info('left the cluster');
  }

  /** Asks the LAN who holds our key; with `autoJoin`, joins the answer with the lowest id. */
  async detect(timeoutMs: number, autoJoin: boolean): Promise<{ nodes: NodeRecord[]; joined?: NodeRecord }> {
    const engine = this.requireEngine();
    const port = this.options.settings.gossip.port;
    const nodes = await engine.detect(
      broadcastAddresses().map((address) => ({ address, port })),
      timeoutMs,
    );
    nodes.sort((a, b) => a.id.localeCompare(b.id));
    if (!autoJoin) return { nodes };
    // Deterministic: every detecting node tries the same order, so they all meet in one cluster;
    // an answer we cannot reach (its advertised address) passes to the next.
    for (const target of nodes) {
      if (await engine.join([{ address: target.address, port: target.port }]))
        return { nodes, joined: target };
    }
    return { nodes };
  }

  keys(): {
    keys: Array<{ fingerprint: string; primary: boolean; installed: boolean; nodes: number }>;
    members: number;
  } & KeyringStatus {
    const alive = (this.engine?.members() ?? []).filter((member) => member.state === 'alive');
    const fingerprints = new Set([
      ...this.keyring.fingerprints(),
      ...alive.flatMap((member) => member.record.keys),
    ]);
    const primary = this.keyring.primaryFingerprint();
    const installed = this.keyring.fingerprints();
    return {
      keys: [...fingerprints].map((keyFingerprint) => ({
        fingerprint: keyFingerprint,
        primary: keyFingerprint === primary,
        installed: installed.includes(keyFingerprint),
        nodes: alive.filter((member) => member.record.keys.includes(keyFingerprint)).length,
      })),
      members: alive.length,
      ...(this.keySync?.status() ?? { generation: this.keyring.generation, primary }),
    };
  }

  /** An operator's keyring change: saved, gossiped to the cluster, applied here (keyring-sync.ts). */
  changeKeys(op: KeyOpMessage['op'], value: string): string {
    this.requireEngine();
    return this.keySync!.operatorChange(op, value);
  }

  dropStats(): (GossipEngine['stats'] & { checks?: CheckSyncStats }) | undefined {
    if (!this.engine) return undefined;
    return { ...this.engine.stats, ...(this.checkSync ? { checks: this.checkSync.stats() } : {}) };
  }

  /**
   * Every node's check table this node holds, its own included (from localCheckTable): each
   * marked with its node's member state; a dead node's is kept, a left one's dropped.
   */
  checkTables(): NodeCheckTable[] {
    return this.checkSync?.checkTables() ?? [];
  }

  /**
   * Serves another subsystem's protocol on the cluster RPC (call before start): registered on the
   * RPC gossip runs, and again on each one a key rotation starts.
   */
  serveProtocol(protocol: string, handler: RpcHandler, options: HandleOptions = {}): void {
    if (this.services.has(protocol) || GOSSIP_PROTOCOLS.includes(protocol))
      throw new Error(`the RPC protocol ${protocol} is already served`);
    this.services.set(protocol, { handler, options });
  }

  /** One request to the member `id` over the cluster RPC (rejects when it is unknown or left). */
  async requestMember(
    id: string,
    protocol: string,
    payload: Uint8Array,
    timeoutMs?: number,
  ): Promise<Uint8Array> {
    const member = this.requireEngine().member(id);
    if (!member || member.state === 'left') throw new Error(`no member ${id} in the cluster`);
    return this.requestOf(member, [protocol], payload, timeoutMs);
  }

  private servePushPull(rpc: ClusterRpc): void {
    for (const [protocol, { handler, options }] of this.services) rpc.handle(protocol, handler, options);
    // Pipelined: one stream per connection carries every push-pull, so a sync with the partner of
    // the last rounds (engine.ts) opens neither a connection nor a stream (a small request on a kept
    // connection: 99 + 79 bytes of payload pipelined, 350 + 300 with a stream of its own).
    rpc.handle(PUSH_PULL_PROTOCOL, (request) => Promise.resolve(encodeReply(this.answerPushPull(request))), {
      pipelined: true,
    });
    rpc.handle(PUSH_PULL_PROTOCOL_V1, (request) => {
      const local = encodeStateExchange(this.options.nodeId, this.requireEngine().localState());
      const remote = decodeStateExchange(request);
      this.countPushPull('served', 'v1');
      this.mergeState(remote.entries, remote.fromId);
      return Promise.resolve(local);
    });
    // Each check-table protocol pipelined (2.0.0) and a stream per request (1.0.0, older agents).
    // Tables are asked of many members in a burst (a formation, a restart) and rarely after: their
    // streams close once a sweep finds them idle, so that a connection opened only for them closes
    // within a minute, not after push-pull's 150 s.
    const serveTable: RpcHandler = (request) => {
      if (!this.checkSync) throw new Error('gossip is not running');
      return Promise.resolve(this.checkSync.serve(request));
    };
    const serveTables: RpcHandler = (request) => {
      if (!this.checkSync) throw new Error('gossip is not running');
      return Promise.resolve(this.checkSync.serveRelay(request));
    };
    rpc.handle(CHECK_TABLE_PROTOCOL, serveTable, { pipelined: true, idleMs: 0 });
    rpc.handle(CHECK_TABLE_PROTOCOL_V1, serveTable);
    rpc.handle(CHECK_TABLES_PROTOCOL, serveTables, { pipelined: true, idleMs: 0 });
    rpc.handle(CHECK_TABLES_PROTOCOL_V1, serveTables);
    // A node that connects to us (a join, a push-pull) can be asked for its table at no handshake.
    rpc.onPeerConnected?.((peerId) => {
      const member = this.engine?.members().find((candidate) => candidate.record.peerId === peerId);
      if (member) this.checkSync?.onConnected(member.record.id);
    });
  }

  /** Members connected over the cluster RPC, asked first for the check tables they hold (check-relay.ts). */
  private checkRelay(): CheckRelay {
    return {
      holders: () => {
        const peers = this.rpc?.current?.connectedPeers?.();
        if (!peers?.size) return [];
        return this.requireEngine()
          .members()
          .filter(
            (member) =>
              (member.state === 'alive' || member.state === 'suspect') &&
              member.record.id !== this.options.nodeId &&
              peers.has(member.record.peerId),
          );
      },
      request: (holder, payload, timeoutMs) =>
        this.requestOf(holder, [CHECK_TABLES_PROTOCOL, CHECK_TABLES_PROTOCOL_V1], payload, timeoutMs),
    };
  }

  /**
   * One request to `member` over the cluster RPC running now, under the newest of a protocol's
   * versions (newest first) that `member` serves.
   */
  private async requestOf(
    member: Member,
    versions: readonly [string, ...string[]],
    payload: Uint8Array,
    timeoutMs?: number,
  ): Promise<Uint8Array> {
    const rpc = this.rpc?.current;
    if (!rpc) throw new Error('cluster RPC is not running (restarting on a new primary key)');
    return requestNewest(rpc, rpcTarget(member), versions, payload, timeoutMs);
  }

  /** The responder's side of a protocol 2 push-pull (push-pull.ts). */
  private answerPushPull(bytes: Uint8Array): PushPullReply {
    const engine = this.requireEngine();
    const request = decodeRequest(bytes);
    const fromId = this.options.nodeId;
    if (request.kind === 'exchange') {
      this.countPushPull('served', 'exchanged');
      this.mergeState(request.entries, request.fromId);
      const wanted = new Set(request.wanted);
      return { kind: 'state', fromId, entries: engine.localState().filter((e) => wanted.has(e.record.id)) };
    }
    const local = engine.localState();
    if (request.entries) {
      this.countPushPull('served', 'full');
      this.mergeState(request.entries, request.fromId);
      return { kind: 'state', fromId, entries: local };
    }
    const digest = digestOf(local);
    const same = hashMatches(digest, request.hash);
    this.countPushPull('served', same ? 'in-sync' : 'digest');
    return same ? { kind: 'same', fromId } : { kind: 'digest', fromId, digest };
  }

  private countPushPull(side: 'sent' | 'served', outcome: string): void {
    const key = `${side}|${outcome}`;
    this.pushPulls.set(key, (this.pushPulls.get(key) ?? 0) + 1);
  }

  /** The initiator's side: protocol 2, or 1 with a member that does not serve 2. */
  private async pushPull(member: Member, joining: boolean): Promise<void> {
    const engine = this.requireEngine();
    const rpc = this.rpc?.current;
    if (!rpc) throw new Error('cluster RPC is not running (restarting on a new primary key)');
    const target = rpcTarget(member);
    const fromId = this.options.nodeId;
    const local = engine.localState();
    const offer = {
      kind: 'offer',
      fromId,
      hash: digestHash(digestOf(local)),
      entries: joining ? local : undefined,
    } as const;
    let reply: PushPullReply;
    try {
      reply = decodeReply(await rpc.request(target, PUSH_PULL_PROTOCOL, encodeRequest(offer)));
    } catch (error) {
      if (!isNotServed(error)) throw error;
      const remote = decodeStateExchange(
        await rpc.request(target, PUSH_PULL_PROTOCOL_V1, encodeStateExchange(fromId, local)),
      );
      this.countPushPull('sent', 'v1');
      return this.mergeState(remote.entries, remote.fromId);
    }
    if (reply.kind === 'digest') {
      // What differs is worked out on the state as it is now: news may have come in meanwhile.
      const exchange = exchangeFor(fromId, engine.localState(), reply.digest);
      if (!exchange) return this.countPushPull('sent', 'in-sync');
      reply = decodeReply(await rpc.request(target, PUSH_PULL_PROTOCOL, encodeRequest(exchange)));
      this.countPushPull('sent', 'exchanged');
    } else {
      this.countPushPull('sent', reply.kind === 'same' ? 'in-sync' : 'full');
    }
    if (reply.kind === 'state') this.mergeState(reply.entries, reply.fromId);
  }

  /** Another node's view of the cluster, merged: members, then their check summaries. */
  private mergeState(entries: StateEntry[], fromId: string): void {
    this.requireEngine().mergeState(entries, fromId);
    this.checkSync?.onState(entries);
  }

  private async joinSeedsWithBackoff(seeds: string[]): Promise<void> {
    for (let delayMs = 1000; !this.stopped; delayMs = Math.min(delayMs * 2, 30_000)) {
      const { joined, errors, unanswered } = await this.join(seeds);
      if (joined > 0) return;
      this.options.logger.warn('no seed answered, retrying', {
        seeds: seeds.join(','),
        retry_in_s: delayMs / 1000,
        errors: [...unanswered, ...errors].join('; '),
      });
      await sleep(delayMs);
    }
  }

  private async autoDetect(): Promise<void> {
    while (!this.stopped) {
      const { nodes, joined } = await this.detect(2000, true);
      if (joined)
        return this.options.logger.info('auto-detect joined a cluster', {
          through: joined.name,
          found: nodes.length,
        });
      await sleep(5000);
    }
  }

  private publish(event: MembershipEvent): void {
    if (event.type === 'node-leave') this.checkSync?.forget(event.member.record.id);
    // A member's record carries its keyring version: a restarted or lagging node catches up here.
    this.keySync?.onMembershipEvent();
    // The API's view of a member carries every field events promise (NodeSummary).
    const node: NodeSummary = view(event.member, this.options.nodeId);
    this.options.events.emit(event.type, { node });
    const level = event.type === 'node-dead' || event.type === 'node-suspect' ? 'warn' : 'info';
    this.options.logger[level](event.type, {
      node: node.name,
      address: `${node.address}:${node.port}`,
      incarnation: node.incarnation,
    });
  }

  private requireEngine(): GossipEngine {
    if (!this.engine) throw new Error('gossip is not running');
    return this.engine;
  }
}

function timingsFrom(settings: AgentSettings): Partial<GossipTimings> {
  const gossip = settings.gossip;
  return {
    probeIntervalMs: gossip.probe_interval_ms,
    probeTimeoutMs: gossip.probe_timeout_ms,
    indirectChecks: gossip.indirect_checks,
    suspicionMultiplier: gossip.suspicion_multiplier,
    suspicionMaxMultiplier: gossip.suspicion_max_multiplier,
    gossipIntervalMs: gossip.gossip_interval_ms,
    gossipNodes: gossip.gossip_nodes,
    retransmitMultiplier: gossip.retransmit_multiplier,
    pushPullIntervalMs: gossip.push_pull_interval_s * 1000,
    reapAfterMs: gossip.reap_after_s * 1000,
    mtuBytes: gossip.mtu_bytes,
  };
}

function view(member: Member, selfId: string): MemberView {
  const { record } = member;
  return {
    name: record.name,
    id: record.id,
    address: record.address,
    port: record.port,
    state: member.state,
    incarnation: member.incarnation,
    groups: record.groups,
    datacenter: record.datacenter,
    version: record.version,
    rtt_ms: member.rttMs ?? null,
    rpc_port: record.rpcPort,
    peer_id: record.peerId,
    checks: record.checks,
    self: record.id === selfId,
    since: new Date(member.stateChangedAt).toISOString(),
  };
}

function rpcTarget(member: Member): { host: string; port: number; peerId?: string } {
  const { address, rpcPort, peerId } = member.record;
  return { host: address, port: rpcPort, peerId: peerId || undefined };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms).unref());
