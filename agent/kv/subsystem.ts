// The KV store as an agent subsystem (docs/kv.md): this node's replica store on the shared level
// store, its service (placement, quorums, CAS, listings, blocking queries) served to the other
// nodes over the cluster RPC and to operators over HTTP, the background sync (hints, rebalancing,
// anti-entropy), and the `kv-change` event for each change this node holds.
import type { AgentSettings } from '../config/index.js';
import type { EventBus } from '../events/index.js';
import type { Logger } from '../log/index.js';
import type { HandleOptions, RpcHandler } from '../rpc/index.js';
import type { SubsystemState } from '../shared/api-types.js';
import { HttpError, type Route } from '../shared/http.js';
import type { Namespace, Store } from '../store/index.js';
import type { Subsystem } from '../subsystem.js';
import { HybridClock, indexOf } from './hlc.js';
import { KvReplicaStore } from './replica-store.js';
import type { KvMember } from './ring.js';
import { kvRoutes } from './routes.js';
import { KV_PROTOCOL, type KvAction, type KvActionResult, kvRpcHandler } from './rpc-protocol.js';
import { KvService } from './service.js';
import { KvSync } from './sync.js';

/** What KV needs of the cluster (gossip provides it; main wires them). */
export interface KvCluster {
  /** Every member this node knows, itself included. */
  members(): KvMember[];
  /** Serves a protocol on the cluster RPC (before gossip starts). */
  serveProtocol(protocol: string, handler: RpcHandler, options?: HandleOptions): void;
  requestMember(id: string, protocol: string, payload: Uint8Array, timeoutMs?: number): Promise<Uint8Array>;
}

export interface KvSubsystemOptions {
  settings: AgentSettings;
  nodeId: string;
  store: Store;
  cluster: KvCluster;
  events: EventBus;
  logger: Logger;
}

/** Events after which the members (and so the ring) are read again. */
const MEMBERSHIP_EVENTS = ['node-join', 'node-update', 'node-suspect', 'node-dead', 'node-leave'] as const;
/**
 * This long after members join, change or leave (once for a burst: a forming cluster sends
 * dozens of events), blocking queries follow the ring and a sync pass runs: a member coming back
 * gets its hints after a few gossip rounds for the others to see it too, and the ring, ~6 ms to
 * build at 50 members, is built once for both.
 */
const MEMBERS_SETTLE_MS = 1000;
/** Where the kv holders this node knew are kept (namespace kv-meta). */
const KNOWN_MEMBERS_KEY = 'members';
/** The longest a stop waits for hints to be delivered. */
const STOP_HANDOFF_MS = 1500;
/** Tombstones older than kv.tombstone_ttl_s are collected this often. */
const COLLECT_EVERY_MS = 3_600_000;

export class KvSubsystem implements Subsystem {
  readonly name = 'kv';
  private readonly replica: KvReplicaStore;
  private readonly kv: KvService;
  private readonly sync: KvSync;
  private members?: KvMember[];
  /** The kv holders this node last knew (kept in the store): the ring before gossip rejoins. */
  private readonly known = new Map<string, readonly string[]>();
  private readonly meta: Namespace;
  /** Since when each known member has been unknown to gossip. */
  private readonly absentSince = new Map<string, number>();
  private readonly timers: NodeJS.Timeout[] = [];
  private soon?: NodeJS.Timeout;
  private readonly unsubscribes: Array<() => void> = [];
  private status: SubsystemState = { status: 'initializing' };

  constructor(private readonly options: KvSubsystemOptions) {
    const { settings, nodeId, cluster, events } = options;
    const kv = settings.kv;
    this.replica = new KvReplicaStore(options.store.sublevel('kv'));
    this.meta = options.store.sublevel('kv-meta');
    const clock = new HybridClock(nodeId);
    const request = (node: string, payload: Uint8Array, timeoutMs?: number) =>
      cluster.requestMember(node, KV_PROTOCOL, payload, timeoutMs);
    this.sync = new KvSync({
      selfId: nodeId,
      store: this.replica,
      hints: options.store.sublevel('kv-hints'),
      ring: () => this.kv.ring(),
      replicas: kv.replicas,
      isAlive: (node) => this.memberList().some((member) => member.id === node && member.state === 'alive'),
      request,
      bytesPerSecond: kv.sync_bytes_per_s,
      maxHints: kv.max_hints,
    });
    this.kv = new KvService({
      selfId: nodeId,
      store: this.replica,
      clock,
      members: () => this.memberList(),
      request,
      replicas: kv.replicas,
      writeQuorum: Math.min(kv.write_quorum, kv.replicas),
      readQuorum: Math.min(kv.read_quorum, kv.replicas),
      onMissed: (node, key, record) => this.sync.hint(node, key, record),
    });
    this.replica.onApplied((key, record) =>
      events.emit('kv-change', {
        key,
        modify_index: indexOf(record.version),
        deleted: record.deleted === true,
      }),
    );
    if (kv.enabled) {
      const handler = kvRpcHandler(this.replica, clock, {
        coordinate: (action) => this.kv.coordinate(action),
        wait: (prefix, exact, index, timeoutMs) => this.kv.waiters.wait(prefix, exact, index, timeoutMs),
        digest: (from, ring) => this.sync.digestFor(from, ring),
        versions: (from, ring, buckets) => this.sync.versionsFor(from, ring, buckets),
      });
      // Gossip's RPC runs before KV has read its member list: nothing is served until then.
      // Pipelined: replication sends many small requests to the same few peers (pipeline.ts).
      cluster.serveProtocol(
        KV_PROTOCOL,
        (request, remote) =>
          this.status.status === 'ok'
            ? handler(request, remote)
            : Promise.reject(new Error('the KV store of this node is not started')),
        { pipelined: true },
      );
    }
    for (const event of MEMBERSHIP_EVENTS)
      this.unsubscribes.push(
        events.on(event, () => {
          this.members = undefined;
          // Suspect and dead members stay on the ring (ring.ts): only these can move it.
          if (event === 'node-join' || event === 'node-update' || event === 'node-leave')
            this.followMembersSoon();
        }),
      );
    this.unsubscribes.push(
      events.on('groups-changed', () => {
        this.members = undefined;
        this.followMembersSoon();
      }),
    );
  }

  async start(): Promise<void> {
    const { kv } = this.options.settings;
    if (!kv.enabled) {
      this.status = { status: 'ok', message: 'disabled (kv.enabled: false)' };
      return;
    }
    if (kv.write_quorum > kv.replicas || kv.read_quorum > kv.replicas)
      throw new Error(
        `kv.write_quorum (${kv.write_quorum}) and kv.read_quorum (${kv.read_quorum}) must not exceed kv.replicas (${kv.replicas})`,
      );
    await this.sync.open();
    const known = await this.meta.get<Array<[string, string[]]>>(KNOWN_MEMBERS_KEY);
    for (const [id, groups] of known ?? []) this.known.set(id, groups);
    this.members = undefined;
    const every = (ms: number, task: () => unknown) => {
      const timer = setInterval(task, ms);
      timer.unref();
      this.timers.push(timer);
    };
    // Jittered so that the members' rounds spread out.
    every(kv.anti_entropy_s * 1000 * (0.75 + Math.random() / 2), () => void this.sync.pass());
    every(
      COLLECT_EVERY_MS,
      () => void this.replica.collectTombstones(kv.tombstone_ttl_s * 1000).catch(() => undefined),
    );
    this.status = { status: 'ok' };
    this.options.logger.info('KV store ready', {
      replicas: kv.replicas,
      write_quorum: kv.write_quorum,
      hints: this.sync.stats.hints_held,
    });
  }

  async stop(): Promise<void> {
    for (const unsubscribe of this.unsubscribes.splice(0)) unsubscribe();
    for (const timer of this.timers.splice(0)) clearInterval(timer);
    clearTimeout(this.soon);
    // Writes other replicas missed and this node kept: delivered before it goes, if they can be
    // soon (the stop budget is shared); the rest wait here for the next start.
    if (this.status.status === 'ok') {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        this.sync.replayHints().catch(() => undefined),
        new Promise((resolve) => (timer = setTimeout(resolve, STOP_HANDOFF_MS))),
      ]);
      clearTimeout(timer);
    }
    this.status = { status: 'stopped' };
  }

  state(): SubsystemState {
    return this.status;
  }

  routes(): Route[] {
    return [
      ...kvRoutes({
        service: () => this.service(),
        localKeys: () => this.localKeys(),
        maxValueBytes: this.options.settings.kv.max_value_bytes,
      }),
      {
        method: 'GET',
        path: '/agent/kv/stats',
        access: 'read',
        description:
          'the KV store on this node: hints, rebalancing, anti-entropy, sync bytes, blocking queries',
        handler: () => ({
          ...this.sync.stats,
          blocking_queries: this.kv.waiters.size,
          ring: this.kv.ring().members,
        }),
      },
    ];
  }

  /**
   * A KV operation for another subsystem (main.ts wires it: the checks' switches), coordinated as a
   * client's would be. Throws what a client would get (disabled, not joined yet, no quorum).
   */
  execute(action: KvAction): Promise<KvActionResult> {
    return this.service().execute(action);
  }

  /** Runs a sync pass now (tests; `opsbro kv` has no command for it). */
  syncPass(): Promise<void> {
    return this.sync.pass();
  }

  private service(): KvService {
    if (!this.options.settings.kv.enabled)
      throw new HttpError(503, 'the KV store is disabled on this node (kv.enabled: false)');
    if (this.notJoinedYet())
      throw new HttpError(503, 'this node has not joined its cluster yet (seeds): no KV placement', {
        'Retry-After': '1',
      });
    return this.kv;
  }

  private async localKeys(): Promise<string[]> {
    const keys: string[] = [];
    for await (const [key] of this.replica.list()) keys.push(key);
    return keys;
  }

  /**
   * The members placement sees: gossip's, and the holders this node knew before that gossip does
   * not know (yet), as failed members. A restarted node learns the cluster bit by bit (a gossip
   * packet, then the join's state): meanwhile its ring is still the cluster's, never a ring of the
   * few it has heard of, which would take keys (and CAS majorities) onto the wrong nodes. A known
   * member is forgotten when it leaves, or after gossip.reap_after_s unknown to gossip.
   */
  private memberList(): KvMember[] {
    if (this.members) return this.members;
    const members = this.options.cluster.members();
    this.remember(members);
    const now = Date.now();
    const reapAfterMs = this.options.settings.gossip.reap_after_s * 1000;
    const bridged: KvMember[] = [];
    for (const [id, groups] of this.known) {
      if (members.some((member) => member.id === id)) {
        this.absentSince.delete(id);
        continue;
      }
      const since = this.absentSince.get(id) ?? now;
      this.absentSince.set(id, since);
      if (now - since > reapAfterMs) {
        this.known.delete(id);
        this.absentSince.delete(id);
        this.saveKnown();
      } else bridged.push({ id, state: 'dead', groups });
    }
    this.members = [...members, ...bridged];
    return this.members;
  }

  /** Keeps the members gossip knows (a left one is forgotten) for the next start. */
  private remember(members: KvMember[]): void {
    let changed = false;
    for (const member of members) {
      if (member.state === 'left') changed = this.known.delete(member.id) || changed;
      else if (this.known.get(member.id)?.join(',') !== member.groups.join(',')) {
        this.known.set(member.id, [...member.groups]);
        changed = true;
      }
    }
    if (changed) this.saveKnown();
  }

  private saveKnown(): void {
    void this.meta
      .put(KNOWN_MEMBERS_KEY, [...this.known])
      .catch((error: unknown) =>
        this.options.logger.warn('KV could not keep its member list', { error: String(error) }),
      );
  }

  /** A fresh node told to join a cluster has no ring until it has joined: it says so (503). */
  private notJoinedYet(): boolean {
    if (this.options.settings.seeds.length === 0) return false;
    const others = this.memberList().filter(
      (member) => member.id !== this.options.nodeId && member.state !== 'left',
    );
    return others.length === 0;
  }

  /** MEMBERS_SETTLE_MS from now: blocking queries follow the ring, and a sync pass runs. */
  private followMembersSoon(): void {
    if (this.soon) return;
    this.soon = setTimeout(() => {
      this.soon = undefined;
      this.kv.followRing();
      if (this.status.status === 'ok') void this.sync.pass();
    }, MEMBERS_SETTLE_MS);
    this.soon.unref();
  }
}
