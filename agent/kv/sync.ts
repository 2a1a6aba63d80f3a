// Keeping replicas whole in the background (docs/kv.md, Membership changes):
// - hinted handoff: a write a replica missed is kept here (namespace `kv-hints`) and replayed
//   once gossip sees that replica alive again;
// - rebalancing: a key this node holds but no longer replicates (the ring changed) is handed to
//   its current replicas, then forgotten here;
// - anti-entropy: with each other member, digests of the keys both replicate, in 64 buckets by
//   key hash; only buckets that differ are compared key by key, and the newer copy of each key is
//   pushed or pulled.
// Everything it sends goes through one byte budget per second (kv.sync_bytes_per_s), and what it
// did is counted (GET /agent/kv/stats).
import { decode } from '@msgpack/msgpack';
import type { Namespace } from '../store/index.js';
import { keyOf, partsOf } from '../store/index.js';
import { compareVersions, type Version } from './hlc.js';
import type { KvRecord, KvReplicaStore } from './replica-store.js';
import type { HashRing } from './ring.js';
import { checkedRecord, checkedVersionList, encodeKvRequest, type KvRequest } from './rpc-protocol.js';

/** Digest buckets per pair of replicas (a power of two). */
export const BUCKETS = 64;
/** A peer's digests are computed at most this often while it asks (one scan serves every asker). */
const DIGEST_CACHE_MS = 2000;

export interface KvSyncStats {
  hints_stored: number;
  hints_held: number;
  hints_replayed: number;
  hints_dropped: number;
  keys_handed_off: number;
  anti_entropy_rounds: number;
  /** Peers a round skipped: this node holds no key both replicate (the peer's round covers theirs). */
  anti_entropy_peers_skipped: number;
  anti_entropy_buckets_differing: number;
  records_pushed: number;
  records_pulled: number;
  bytes_sent: number;
  /** ms spent waiting for the byte budget. */
  throttled_ms: number;
  last_round?: string;
  last_error?: string;
}

export interface KvSyncOptions {
  selfId: string;
  store: KvReplicaStore;
  hints: Namespace;
  ring: () => HashRing;
  replicas: number;
  /** Whether gossip sees the member alive now. */
  isAlive: (node: string) => boolean;
  request: (node: string, payload: Uint8Array, timeoutMs?: number) => Promise<Uint8Array>;
  bytesPerSecond: number;
  maxHints: number;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
}

export class KvSync {
  readonly stats: KvSyncStats = {
    hints_stored: 0,
    hints_held: 0,
    hints_replayed: 0,
    hints_dropped: 0,
    keys_handed_off: 0,
    anti_entropy_rounds: 0,
    anti_entropy_peers_skipped: 0,
    anti_entropy_buckets_differing: 0,
    records_pushed: 0,
    records_pulled: 0,
    bytes_sent: 0,
    throttled_ms: 0,
  };
  private readonly budget: ByteBudget;
  private digestCache?: { ring: string; at: number; table: Map<string, Bucketed> };
  private running?: Promise<void>;

  constructor(private readonly options: KvSyncOptions) {
    this.budget = new ByteBudget(options.bytesPerSecond, options.now ?? Date.now, options.sleep);
  }

  /** Counts the hints left from before a restart. */
  async open(): Promise<void> {
    for await (const _ of this.options.hints.keys()) this.stats.hints_held++;
  }

  /** A replica missed `record`: keep it for that node (the newest per key), within max_hints. */
  hint(node: string, key: string, record: KvRecord): void {
    if (this.stats.hints_held >= this.options.maxHints) {
      this.stats.hints_dropped++;
      return;
    }
    this.stats.hints_stored++;
    this.stats.hints_held++;
    void this.options.hints.put(keyOf(node, key), record).catch(() => undefined);
  }

  /** One pass of everything: hints, rebalancing, anti-entropy (one pass at a time). */
  pass(): Promise<void> {
    this.running ??= this.runPass().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  private async runPass(): Promise<void> {
    try {
      await this.replayHints();
      // A node holding no record has nothing to hand off or compare (what its peers hold reaches it
      // by their rounds): no ring to build, which every member change of a formation would pay.
      if (await this.holdsRecords()) {
        await this.rebalance();
        await this.antiEntropy();
      }
      this.stats.last_round = new Date((this.options.now ?? Date.now)()).toISOString();
    } catch (error) {
      this.stats.last_error = error instanceof Error ? error.message : String(error);
    }
  }

  private async holdsRecords(): Promise<boolean> {
    for await (const _ of this.options.store.records()) return true;
    return false;
  }

  /** Sends each alive node the writes it missed; a hint goes once delivered (or superseded). */
  async replayHints(): Promise<void> {
    for await (const [stored, record] of this.options.hints.entries<KvRecord>()) {
      const [node, key] = partsOf(stored) as [string, string];
      if (!this.options.isAlive(node)) continue;
      try {
        await this.push(node, key, record);
        await this.options.hints.del(stored);
        this.stats.hints_held = Math.max(0, this.stats.hints_held - 1);
        this.stats.hints_replayed++;
      } catch {
        // Still unreachable: kept for the next pass.
      }
    }
  }

  /** Hands the keys this node no longer replicates to their replicas, then forgets them. */
  async rebalance(): Promise<void> {
    const ring = this.options.ring();
    for await (const [key, record] of this.options.store.records()) {
      const replicas = ring.replicasFor(key, this.options.replicas);
      if (replicas.includes(this.options.selfId) || replicas.length === 0) continue;
      const paxos = await this.options.store.paxos(key);
      try {
        for (const node of replicas) {
          await this.push(node, key, record);
          if (paxos) await this.send(node, { op: 'paxos-merge', key, state: paxos });
        }
      } catch {
        // A replica is unreachable: the key stays here until every replica has it.
        continue;
      }
      if (await this.options.store.forget(key, record.version)) this.stats.keys_handed_off++;
    }
  }

  /** Compares, with every other alive member, the keys both replicate; exchanges what differs. */
  async antiEntropy(): Promise<void> {
    const ring = this.options.ring();
    const signature = ringSignature(ring);
    const table = await this.digests(ring, signature);
    for (const peer of ring.members) {
      if (peer === this.options.selfId || !this.options.isAlive(peer)) continue;
      const mine = table.get(peer);
      // No key here that both replicate: nothing to compare from this side. Keys the peer holds
      // and this node lacks are found by the peer's own round (its digests are not empty), so an
      // idle cluster with an empty store sends no digest at all (it sent N - 1 per node per round).
      if (!mine) {
        this.stats.anti_entropy_peers_skipped++;
        continue;
      }
      try {
        const reply = decode(
          await this.options.request(
            peer,
            encodeKvRequest({
              op: 'digest',
              from: this.options.selfId,
              ring: signature,
              buckets: mine.digests,
            }),
          ),
        ) as { digests?: unknown };
        // Another ring: gossip has not converged yet; the next round compares.
        if (!Array.isArray(reply.digests)) continue;
        const theirs = reply.digests as unknown[];
        const differing = mine.digests
          .map((digest, bucket) => (digest !== theirs[bucket] ? bucket : -1))
          .filter((bucket) => bucket >= 0);
        this.stats.anti_entropy_rounds++;
        if (differing.length === 0) continue;
        this.stats.anti_entropy_buckets_differing += differing.length;
        await this.reconcile(peer, signature, differing, mine);
      } catch {
        // The peer went away mid-round: the next round tries again.
      }
    }
  }

  /** Serves a peer's digest request: this node's digests of the keys both replicate. */
  async digestFor(from: string, signature: string): Promise<number[] | 'other-ring'> {
    const ring = this.options.ring();
    if (ringSignature(ring) !== signature) return 'other-ring';
    return ((await this.digests(ring, signature)).get(from) ?? emptyBucketed()).digests;
  }

  /** Serves a peer's version request: the keys and versions of those buckets. */
  async versionsFor(
    from: string,
    signature: string,
    buckets: number[],
  ): Promise<Array<[string, Version]> | 'other-ring'> {
    const ring = this.options.ring();
    if (ringSignature(ring) !== signature) return 'other-ring';
    const shared = (await this.digests(ring, signature)).get(from) ?? emptyBucketed();
    return buckets.flatMap((bucket) => shared.versions[bucket] ?? []);
  }

  /** Key by key within the differing buckets: push what is newer here, pull what is newer there. */
  private async reconcile(peer: string, signature: string, buckets: number[], mine: Bucketed): Promise<void> {
    const reply = decode(
      await this.options.request(
        peer,
        encodeKvRequest({ op: 'versions', from: this.options.selfId, ring: signature, buckets }),
      ),
    ) as { versions?: unknown };
    if (!Array.isArray(reply.versions)) return;
    const theirs = new Map(checkedVersionList(reply.versions));
    const ours = new Map(buckets.flatMap((bucket) => mine.versions[bucket] ?? []));
    for (const [key, version] of ours) {
      const other = theirs.get(key);
      if (other && compareVersions(other, version) >= 0) continue;
      const record = await this.options.store.record(key);
      if (record) await this.push(peer, key, record);
    }
    for (const [key, version] of theirs) {
      const held = ours.get(key);
      if (held && compareVersions(held, version) >= 0) continue;
      const answer = decode(await this.options.request(peer, encodeKvRequest({ op: 'read', key }))) as {
        record?: unknown;
      };
      if (answer.record === null || answer.record === undefined) continue;
      const record = checkedRecord(answer.record);
      // The record only: a replica's Paxos promises and acceptances are its own (copying another's
      // acceptance would count a vote it never cast). Rebalancing alone hands them over.
      if ((await this.options.store.apply(key, record)) === 'applied') this.stats.records_pulled++;
    }
  }

  /**
   * For each other member, the digests (and versions) of the keys this node holds that both
   * replicate, by bucket; one scan of the store serves every peer for DIGEST_CACHE_MS.
   */
  private async digests(ring: HashRing, signature: string): Promise<Map<string, Bucketed>> {
    const now = (this.options.now ?? Date.now)();
    const cached = this.digestCache;
    if (cached && cached.ring === signature && now - cached.at < DIGEST_CACHE_MS) return cached.table;
    const table = new Map<string, Bucketed>();
    for await (const [key, record] of this.options.store.records()) {
      const replicas = ring.replicasFor(key, this.options.replicas);
      if (!replicas.includes(this.options.selfId)) continue;
      const bucket = fnv1a(key) & (BUCKETS - 1);
      const item = fnv1a(
        `${key}\u0000${record.version.wall}:${record.version.logical}:${record.version.node}`,
      );
      for (const peer of replicas) {
        if (peer === this.options.selfId) continue;
        let shared = table.get(peer);
        if (!shared) table.set(peer, (shared = emptyBucketed()));
        shared.digests[bucket] = (shared.digests[bucket]! + item) >>> 0;
        (shared.versions[bucket] ??= []).push([key, record.version]);
      }
    }
    this.digestCache = { ring: signature, at: now, table };
    return table;
  }

  /** Applies a record on `node` within the byte budget. */
  private async push(node: string, key: string, record: KvRecord): Promise<void> {
    await this.send(node, { op: 'apply', key, record });
    this.stats.records_pushed++;
  }

  private async send(node: string, request: KvRequest): Promise<void> {
    const payload = encodeKvRequest(request);
    this.stats.throttled_ms += await this.budget.take(payload.length);
    this.stats.bytes_sent += payload.length;
    await this.options.request(node, payload);
  }
}

interface Bucketed {
  digests: number[];
  versions: Array<Array<[string, Version]> | undefined>;
}

function emptyBucketed(): Bucketed {
  return { digests: new Array<number>(BUCKETS).fill(0), versions: [] };
}

/** The ring's members in one short string: two nodes compare digests only over the same ring. */
export function ringSignature(ring: HashRing): string {
  return fnv1a(ring.members.join(',')).toString(16).padStart(8, '0') + ring.members.length.toString(16);
}

/** 32-bit FNV-1a of a string's UTF-16 code units: cheap, and enough for bucketing and digests. */
function fnv1a(text: string): number {
  let hash = 0x811c9dc5;
  for (let at = 0; at < text.length; at++) {
    hash ^= text.charCodeAt(at);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}

/** A token bucket of bytes per second (one second of burst). */
class ByteBudget {
  private tokens: number;
  private last: number;

  constructor(
    private readonly perSecond: number,
    private readonly now: () => number,
    private readonly sleep: (ms: number) => Promise<void> = (ms) =>
      new Promise((resolve) => setTimeout(resolve, ms).unref()),
  ) {
    this.tokens = perSecond;
    this.last = now();
  }

  /** Waits until `bytes` fit; returns the ms waited. */
  async take(bytes: number): Promise<number> {
    let waited = 0;
    for (;;) {
      const now = this.now();
      this.tokens = Math.min(this.perSecond, this.tokens + ((now - this.last) * this.perSecond) / 1000);
      this.last = now;
      // A message larger than a second's budget goes once the bucket is full.
      const needed = Math.min(bytes, this.perSecond);
      if (this.tokens >= needed) {
        this.tokens -= bytes;
        return waited;
      }
      const ms = Math.ceil(((needed - this.tokens) * 1000) / this.perSecond);
      await this.sleep(ms);
      waited += ms;
    }
  }
}
