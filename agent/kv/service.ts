// A node's KV service: what the HTTP API (and the other nodes) ask of it. It places a request:
// a get or put of a key this node replicates is coordinated here; otherwise, and for every
// compare-and-set, the request goes to the key's coordinator, its first reachable replica, so the
// CASes of one key queue at one node (Paxos then only sees contention while a coordinator fails
// over). It lists keys cluster-wide, waits for changes (blocking queries) and keeps hints for
// replicas that missed a write (hinted-handoff.ts).
import { setTimeout as sleep } from 'node:timers/promises';
import { decode } from '@msgpack/msgpack';
import { ClusterRpcError } from '../rpc/index.js';
import { KeyedSerial } from '../store/index.js';
import { KvCoordinator, QuorumError, type ReplicaTransport } from './coordinator.js';
import { compareVersions, indexOf, type HybridClock, type Version } from './hlc.js';
import { isLive, type KvRecord, type KvReplicaStore } from './replica-store.js';
import { HashRing, kvHolders, type KvMember } from './ring.js';
import {
  checkedActionResult,
  checkedListPage,
  checkedWaitReply,
  encodeKvRequest,
  type KvAction,
  type KvActionResult,
  type KvRequest,
  listPage,
  rpcReplicaTransport,
} from './rpc-protocol.js';
import { ChangeWaiters, type ChangeSeen } from './waiters.js';

export interface KvServiceOptions {
  selfId: string;
  store: KvReplicaStore;
  clock: HybridClock;
  /** Gossip's members (this node included), with their state and groups. */
  members: () => KvMember[];
  /** Sends KV_PROTOCOL bytes to a member by id (the cluster RPC). */
  request: (node: string, payload: Uint8Array, timeoutMs?: number) => Promise<Uint8Array>;
  replicas: number;
  writeQuorum: number;
  readQuorum: number;
  /** Told of each replica that missed a write (hinted handoff keeps it for later). */
  onMissed?: (node: string, key: string, record: KvRecord) => void;
  now?: () => number;
}

/** A cluster-wide listing: the newest record of each key (tombstones too) and the highest index. */
export interface Listing {
  entries: Array<[string, KvRecord]>;
  index: number;
}

/** Keys whose last CAS index a coordinator remembers. */
const SEEN_INDEXES = 10_000;
/** A wait whose holders all failed asks again this soon, doubling up to 32x. */
const WAIT_RETRY_MS = 1000;
/** RPC timeout of a forwarded operation (the coordinator's own replica requests take up to 5 s). */
const FORWARD_TIMEOUT_MS = 12_000;

export class KvService {
  readonly coordinator: KvCoordinator;
  readonly waiters: ChangeWaiters;
  private readonly casSerial = new KeyedSerial();
  /**
   * The highest index each key was seen at by this node's CASes (bounded). A key's index never
   * goes back (last writer wins), so a CAS on an older index cannot succeed: it is refused
   * without a Paxos round (10 clients racing on one key cost one round per success, not ten).
   */
  private readonly seenIndexes = new Map<string, number>();
  private ringCache?: { signature: string; ring: HashRing };
  /** The rounds of waits in progress, told when the ring changes. */
  private readonly ringListeners = new Set<() => void>();

  constructor(private readonly options: KvServiceOptions) {
    const direct = rpcReplicaTransport({
      self: options.selfId,
      local: options.store,
      request: (node, payload) => options.request(node, payload),
    });
    const transport: ReplicaTransport = {
      ...direct,
      apply: (node, key, record) =>
        direct.apply(node, key, record).catch((error: unknown) => {
          options.onMissed?.(node, key, record);
          throw error;
        }),
    };
    this.coordinator = new KvCoordinator({
      clock: options.clock,
      ring: () => this.ring(),
      transport,
      replicas: options.replicas,
      writeQuorum: options.writeQuorum,
      readQuorum: options.readQuorum,
      preference: (node) => this.preference(node),
      now: options.now,
    });
    this.waiters = new ChangeWaiters(options.store);
  }

  /** The ring of the members holding keys now (rebuilt when they change). */
  ring(): HashRing {
    const holders = kvHolders(this.options.members());
    const signature = holders.join(',');
    if (this.ringCache?.signature !== signature)
      this.ringCache = { signature, ring: new HashRing(holders, undefined, this.ringCache?.ring) };
    return this.ringCache.ring;
  }

  /** A client's operation, coordinated here or sent to the key's coordinator. */
  async execute(action: KvAction): Promise<KvActionResult> {
    const replicas = this.ring().replicasFor(action.key, this.options.replicas);
    if (replicas.length === 0) throw new QuorumError('no node holds KV keys yet');
    const compareAndSet = action.action !== 'get' && action.cas !== undefined;
    // Plain reads and writes are coordinated by any replica: this one, when it is one.
    if (!compareAndSet && replicas.includes(this.options.selfId)) return this.coordinate(action);
    const candidates = [...replicas].sort((a, b) => this.preference(a) - this.preference(b));
    const errors: string[] = [];
    for (const node of candidates) {
      if (node === this.options.selfId) return this.coordinate(action);
      try {
        const reply = decode(
          await this.options.request(
            node,
            encodeKvRequest({ op: 'coordinate', request: action }),
            FORWARD_TIMEOUT_MS,
          ),
        );
        return checkedActionResult(reply);
      } catch (error) {
        errors.push(`${node}: ${error instanceof Error ? error.message : String(error)}`);
        // A CAS that may have reached its coordinator is not sent to another one: that one could
        // finish the first one's proposal and then answer "refused" for what did happen.
        if (compareAndSet && mayHaveRun(error))
          throw new QuorumError(
            `the coordinator of ${action.key} failed during the compare-and-set, which may or may not have happened: read the key to know (${errors.join('; ')})`,
          );
      }
    }
    throw new QuorumError(`no replica of ${action.key} could coordinate it (${errors.join('; ')})`);
  }

  /** Runs an operation as the key's coordinator. */
  async coordinate(action: KvAction): Promise<KvActionResult> {
    const { coordinator } = this;
    switch (action.action) {
      case 'get': {
        const newest = await coordinator.readNewest(action.key, { consistent: action.consistent });
        const live = newest && isLive(newest, this.now()) ? newest : undefined;
        return { ok: true, index: newest ? indexOf(newest.version) : 0, record: live ?? null };
      }
      case 'put': {
        const now = this.now();
        const extra = {
          flags: action.flags,
          ...(action.ttlMs !== undefined ? { expiresAt: now + action.ttlMs } : {}),
        };
        if (action.cas === undefined) {
          const written = await coordinator.put(action.key, action.value, {
            flags: action.flags,
            ...(action.ttlMs !== undefined ? { ttlMs: action.ttlMs } : {}),
          });
          return { ok: true, index: written.index };
        }
        return this.compareAndSet(action.key, action.cas, (live, version) => ({
          value: action.value,
          version,
          createIndex: live ? live.createIndex : indexOf(version),
          ...extra,
        }));
      }
      case 'delete': {
        if (action.cas === undefined) {
          const written = await coordinator.delete(action.key);
          return { ok: true, index: written.index };
        }
        return this.compareAndSet(action.key, action.cas, (_live, version) => ({
          value: new Uint8Array(0),
          flags: 0,
          version,
          createIndex: indexOf(version),
          deleted: true,
        }));
      }
    }
  }

  /** A CAS of this coordinator: one at a time per key, refused at once when known to be stale. */
  private compareAndSet(
    key: string,
    casIndex: number,
    make: (live: KvRecord | undefined, version: Version) => KvRecord,
  ): Promise<KvActionResult> {
    return this.casSerial.run(key, async () => {
      const seen = this.seenIndexes.get(key) ?? 0;
      if (casIndex !== 0 && casIndex < seen) return { ok: false, index: seen };
      const result = await this.coordinator.cas(key, casIndex, make);
      this.seenIndexes.delete(key);
      this.seenIndexes.set(key, Math.max(seen, result.index));
      // The oldest entry goes (a Map iterates in insertion order; a key is re-inserted on use).
      if (this.seenIndexes.size > SEEN_INDEXES)
        this.seenIndexes.delete(this.seenIndexes.keys().next().value!);
      return result;
    });
  }

  /**
   * The newest record of every key under `prefix` across the cluster (each member's share, paged),
   * tombstones included, in key order. `keysOnly`: values left out. Fails when more members than
   * a key has replicas could not answer (keys could be missing).
   */
  async list(prefix: string, keysOnly: boolean): Promise<Listing> {
    const ring = this.ring();
    const newest = new Map<string, KvRecord>();
    const failures: string[] = [];
    await Promise.all(
      ring.members.map(async (node) => {
        try {
          let after: string | undefined;
          do {
            const page =
              node === this.options.selfId
                ? await listPage(this.options.store, prefix, after, keysOnly)
                : checkedListPage(
                    decode(
                      await this.options.request(
                        node,
                        encodeKvRequest({
                          op: 'list',
                          prefix,
                          keysOnly,
                          ...(after !== undefined ? { after } : {}),
                        } satisfies KvRequest),
                      ),
                    ),
                  );
            for (const [key, record] of page.entries) {
              const held = newest.get(key);
              if (!held || compareVersions(record.version, held.version) > 0) newest.set(key, record);
            }
            after = page.next;
          } while (after !== undefined);
        } catch (error) {
          failures.push(`${node}: ${error instanceof Error ? error.message : String(error)}`);
        }
      }),
    );
    if (failures.length >= Math.min(this.options.replicas, ring.members.length) && failures.length > 0)
      throw new QuorumError(`the listing is incomplete: ${failures.join('; ')}`);
    const entries = [...newest.entries()].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    let index = 0;
    for (const [, record] of entries) index = Math.max(index, indexOf(record.version));
    return { entries, index };
  }

  /**
   * Waits until a record under `prefix` (the key itself when `exact`) passes `index` somewhere
   * it is held, for `timeoutMs` at most: asks the key's replicas (every member for a prefix) to
   * tell, and the new ones too when the ring changes meanwhile (followRing). True when a
   * change was seen; false at the deadline or when `signal` aborts.
   */
  async waitForChange(
    prefix: string,
    exact: boolean,
    index: number,
    timeoutMs: number,
    signal?: AbortSignal,
  ): Promise<boolean> {
    return (await this.watch(prefix, exact, index, timeoutMs, signal)) !== undefined;
  }

  /**
   * A blocking read of one key (Consul's `?index=&wait=`): the key at once when its index passed
   * `index`, else once a change of it is seen, else at the deadline.
   */
  async blockingGet(
    key: string,
    index: number,
    timeoutMs: number,
    options: { consistent: boolean; signal?: AbortSignal },
  ): Promise<KvActionResult> {
    const first = await this.execute({ action: 'get', key, consistent: options.consistent });
    if (first.index > index) return first;
    const seen = await this.watch(key, true, index, timeoutMs, options.signal);
    // The wait ends with the first replica that applied the write, when the others (the write's
    // coordinator too) may not have it yet: even a majority read can miss it then. The newer of
    // what the read found and the record that ended the wait is the answer.
    const read = await this.execute({
      action: 'get',
      key,
      consistent: seen !== undefined || options.consistent,
    });
    const record = seen?.record;
    if (!record || indexOf(record.version) <= read.index) return read;
    this.options.clock.observe(record.version);
    return { ok: true, index: indexOf(record.version), record: isLive(record, this.now()) ? record : null };
  }

  /** waitForChange, with what the holder that saw the change holds; undefined when none was seen. */
  private async watch(
    prefix: string,
    exact: boolean,
    index: number,
    timeoutMs: number,
    signal?: AbortSignal,
  ): Promise<ChangeSeen | undefined> {
    const deadline = this.now() + timeoutMs;
    const local = new AbortController();
    const abort = () => local.abort();
    signal?.addEventListener('abort', abort, { once: true });
    try {
      for (let failedRounds = 0; !local.signal.aborted; failedRounds++) {
        const remaining = deadline - this.now();
        if (remaining <= 0) return undefined;
        const outcome = await this.waitRound(prefix, exact, index, deadline, local.signal);
        if (outcome === false) return undefined;
        if (outcome !== 'failed') return outcome;
        // No holder could answer: ask again after 1 s (a failed replica may be back), doubling
        // up to 32 s while they keep failing (a refused request must not become a request loop),
        // never past the deadline.
        await pause(Math.min(WAIT_RETRY_MS * 2 ** Math.min(failedRounds, 5), remaining), local.signal);
      }
      return undefined;
    } finally {
      signal?.removeEventListener('abort', abort);
      local.abort();
    }
  }

  /**
   * The members changed (the KV subsystem calls this once for a burst of membership events): the
   * waits in progress ask the holders the ring now gives them, if they have not asked them yet.
   * Without it, a long wait begun in a small cluster would ask nodes that no longer hold the key
   * once the cluster grew, and see a write only at its deadline.
   */
  followRing(): void {
    for (const listener of [...this.ringListeners]) listener();
  }

  /**
   * One round of a wait: what the first holder to see a change saw; false once every current holder
   * answered "no change"; 'failed' when none could answer. A holder the ring adds meanwhile is
   * asked too; one it drops no longer counts (its answer still does if it saw a change).
   */
  private waitRound(
    prefix: string,
    exact: boolean,
    index: number,
    deadline: number,
    signal: AbortSignal,
  ): Promise<ChangeSeen | false | 'failed'> {
    return new Promise((resolve) => {
      const answers = new Map<string, 'pending' | 'unchanged' | 'failed'>();
      let holders: readonly string[] = [];
      let done = false;
      const finish = (outcome: ChangeSeen | false | 'failed') => {
        if (done) return;
        done = true;
        this.ringListeners.delete(retarget);
        signal.removeEventListener('abort', aborted);
        resolve(outcome);
      };
      const aborted = () => finish(false);
      const settle = () => {
        let unchanged = false;
        for (const node of holders) {
          const answer = answers.get(node);
          if (answer === 'pending') return;
          if (answer === 'unchanged') unchanged = true;
        }
        finish(unchanged ? false : 'failed');
      };
      const ask = (node: string) => {
        answers.set(node, 'pending');
        // Whole milliseconds, as the wire takes them (a jittered wait's deadline is not whole).
        const remaining = Math.max(0, Math.ceil(deadline - this.now()));
        const asked: Promise<ChangeSeen | undefined> =
          node === this.options.selfId
            ? this.waiters.wait(prefix, exact, index, remaining, signal)
            : this.options
                .request(
                  node,
                  encodeKvRequest({ op: 'wait', prefix, exact, index, timeoutMs: remaining }),
                  remaining + 5_000,
                )
                .then((reply) => checkedWaitReply(decode(reply)));
        asked.then(
          (seen) => {
            if (seen) return finish(seen);
            answers.set(node, 'unchanged');
            settle();
          },
          () => {
            answers.set(node, 'failed');
            settle();
          },
        );
      };
      const retarget = () => {
        if (done) return;
        const ring = this.ring();
        holders = exact ? ring.replicasFor(prefix, this.options.replicas) : [...ring.members];
        // Asked once per round; one that failed is asked again (it may be back).
        for (const node of holders) {
          const answer = answers.get(node);
          if (answer === undefined || answer === 'failed') ask(node);
        }
        settle();
      };
      if (signal.aborted) return finish(false);
      signal.addEventListener('abort', aborted, { once: true });
      this.ringListeners.add(retarget);
      retarget();
    });
  }

  private now(): number {
    return this.options.now?.() ?? Date.now();
  }

  /** Lower first: this node, then the alive members, then suspects, then the dead. */
  preference(node: string): number {
    if (node === this.options.selfId) return 0;
    const state = this.options.members().find((member) => member.id === node)?.state;
    return state === 'alive' ? 1 : state === 'suspect' ? 2 : 3;
  }
}

/** Whether a forwarded request may have run there: anything but a failure to reach the node. */
function mayHaveRun(error: unknown): boolean {
  if (!(error instanceof ClusterRpcError)) return false;
  return !['unreachable', 'handshake-failed', 'busy', 'not-started', 'invalid'].includes(error.code);
}

/** Sleeps `ms`, or less when `signal` aborts. */
function pause(ms: number, signal: AbortSignal): Promise<void> {
  return sleep(ms, undefined, { signal }).catch(() => undefined);
}
