// Check state cluster-wide (docs/gossip.md, "Check state"). This node's table changes become small
// deltas gossiped like membership news; other nodes' deltas move the tables this node holds
// (check-tables.ts) when they follow the version held; a gap, a version-only delta, or a newer
// version seen in a record or a push-pull makes this node fetch that table from its node over the
// cluster RPC (check-fetcher.ts says when). Records carry only a summary; push-pull never a table.
// Versions are the checks subsystem's, within an epoch of this node's own (when its gossip
// started): a restart that numbers from 0 again is a newer epoch, never mistaken for old news.
import type { AgentEvents } from '../events/index.js';
import { RateLimitedLog } from '../log/index.js';
import type { CheckBrief, CheckSummary, NodeCheckTable } from '../shared/api-types.js';
import { messageOf } from '../shared/errors.js';
import { SYSTEM_TIMERS, type Timers } from '../shared/timers.js';
import {
  type CheckDelta,
  compareStamps,
  decodeTableAnswer,
  decodeTableRequest,
  decodeTablesAnswer,
  decodeTablesRequest,
  EMPTY_SUMMARY,
  encodeTableAnswer,
  encodeTableRequest,
  encodeTablesAnswer,
  encodeTablesRequest,
  type FetchedTable,
  MAX_RELAY_ANSWER_BYTES,
  summarize,
  wireBrief,
  wireOverride,
} from './check-codec.js';
import { type FetchPolicy, TableFetcher } from './check-fetcher.js';
import { TableRelay } from './check-relay.js';
import { CheckTables, type HeldTable } from './check-tables.js';
import { encodeMessage, MessageType, type StateEntry, WIRE_VERSION } from './codec.js';
import type { Member } from './members.js';

/**
 * The cluster RPC protocol that answers a node's own check table (beside push-pull). Pipelined
 * from 2.0.0: one stream per connection carries every request (a stream per request cost each end
 * 2.5-3.8x the CPU, docs/benchmarks.md); the payloads are 1.0.0's, still served and used with an agent
 * that does not serve 2.0.0.
 */
export const CHECK_TABLE_PROTOCOL = '/opsbro/check-table/2.0.0';
export const CHECK_TABLE_PROTOCOL_V1 = '/opsbro/check-table/1.0.0';
/** The one that answers the tables a node holds, of any node (check-relay.ts); the same versions. */
export const CHECK_TABLES_PROTOCOL = '/opsbro/check-tables/2.0.0';
export const CHECK_TABLES_PROTOCOL_V1 = '/opsbro/check-tables/1.0.0';

/** What check sync needs of the gossip engine (engine.ts). */
export interface CheckSyncEngine {
  readonly table: { get(id: string): Member | undefined };
  /** The largest message a packet carries (bytes). */
  readonly maxNewsBytes: number;
  setCheckSummary(nodeId: string, summary: CheckSummary): void;
  broadcastCheckDelta(delta: CheckDelta): void;
}

export interface CheckSyncTimings extends FetchPolicy {
  /** Changes of this node's table arriving within this long go out as one delta. */
  coalesceMs: number;
  /** How long a fetch may take. */
  fetchTimeoutMs: number;
  /** Tables wanted within this long go out in one relay request. */
  relayDebounceMs: number;
  /**
   * A table whose node this node has no connection to is fetched from that node only this long
   * after it is wanted, when a connected member may hold it (the relay asks first).
   */
  relayGraceMs: number;
  /** A change announced is carried again by the deltas of this long after it (RECENT_CHANGE_MS). */
  recentChangeMs: number;
}

type SyncTimings = Pick<
  CheckSyncTimings,
  'coalesceMs' | 'fetchTimeoutMs' | 'relayDebounceMs' | 'relayGraceMs' | 'recentChangeMs'
>;

/** Where tables held by other members come from (check-relay.ts); absent: from each node only. */
export interface CheckRelay {
  /** Members with an open cluster RPC connection: alive or suspect, not this node. */
  holders: () => Member[];
  /** Sends a relay request to `holder` (CHECK_TABLES_PROTOCOL); resolves with its answer. */
  request: (holder: Member, payload: Uint8Array, timeoutMs: number) => Promise<Uint8Array>;
}

export interface CheckSyncOptions {
  selfId: string;
  /** This node's epoch (localSummary's): when its gossip started, in seconds. */
  epoch: number;
  engine: CheckSyncEngine;
  /** This node's table (the checks subsystem's); undefined: this node has no checks. */
  localTable?: () => NodeCheckTable;
  /** Sends a fetch request to `member`'s cluster RPC (CHECK_TABLE_PROTOCOL); resolves with its answer. */
  request: (member: Member, payload: Uint8Array, timeoutMs: number) => Promise<Uint8Array>;
  relay?: CheckRelay;
  timings?: Partial<CheckSyncTimings>;
  timers?: Timers;
  now?: () => number;
  onWarning?: (message: string, fields?: Record<string, unknown>) => void;
}

export interface CheckSyncStats {
  deltasSent: number;
  /** Sent as "the version bumped" only: the change did not fit in a packet. */
  versionOnlySent: number;
  deltasApplied: number;
  /** Deltas that could not apply on arrival (a gap, out of order, version only). */
  deltasWaiting: number;
  fetches: number;
  fetchFailures: number;
  fetchesServed: number;
  /** Tables taken from a relay answer (newer than the one held). */
  tablesRelayed: number;
  /** Relay requests this node answered. */
  relaysServed: number;
}

type LocalChange = AgentEvents['check-table-changed'];

/**
 * How long a change announced stays in the deltas that follow it (while they fit in half a
 * packet): a node that holds the table but missed it (gossip lost it, or the node took a relayed
 * table a version behind) is caught up by the next delta instead of fetching the whole table.
 * Longer than a delta's retransmissions and a relay's rounds; a cluster at a steady state, whose
 * changes are minutes apart, sends each change once. Agents from before this apply such a delta
 * only on exactly its base: in a cluster still mixed, they fetch a table whose node changed twice
 * within 5 s (at most every 2 s per table, check-fetcher.ts).
 */
export const RECENT_CHANGE_MS = 5_000;
/** Changes announced that a delta may carry again, at most. */
const MAX_RECENT_CHANGES = 32;

export const DEFAULT_CHECK_SYNC_TIMINGS: SyncTimings = {
  coalesceMs: 200,
  fetchTimeoutMs: 5000,
  relayDebounceMs: 200,
  relayGraceMs: 5000,
  recentChangeMs: RECENT_CHANGE_MS,
};

/** A change announced, with the version before it and when. */
interface Announced {
  change: LocalChange;
  base: number;
  at: number;
}

/** Consecutive local changes merged into one delta. */
interface Merged {
  base: number;
  version: number;
  changed: Map<string, CheckBrief>;
  removed: Set<string>;
}

type Stamp = Pick<CheckSummary, 'epoch' | 'version'>;

/** This node's epoch when its gossip starts at `nowMs`: seconds, so it fits 32 bits. */
export const epochAt = (nowMs: number): number => Math.floor(nowMs / 1000);

/** The summary of this node's table (empty, of this epoch, without checks). */
export function localSummary(table: NodeCheckTable | undefined, epoch: number): CheckSummary {
  if (!table) return { ...EMPTY_SUMMARY, epoch };
  return summarize(epoch, table.version, table.checks, table.override !== undefined);
}

export class CheckSync {
  private readonly tables = new CheckTables();
  private readonly fetcher: TableFetcher;
  /** Per node, the newest version seen announced (records, push-pull, deltas) that may be lacking. */
  private readonly wanted = new Map<string, Stamp>();
  private readonly timings: SyncTimings;
  private readonly relay?: TableRelay;
  /**
   * Other nodes' tables as a relay answers them, by node, while the table held (the object a whole
   * table replaced) and its version stand.
   */
  private readonly answers = new Map<string, { held: HeldTable; version: number; bytes: Uint8Array }>();
  private readonly timers: Timers;
  private readonly stats_: Omit<CheckSyncStats, 'fetches' | 'fetchFailures'> = {
    deltasSent: 0,
    versionOnlySent: 0,
    deltasApplied: 0,
    deltasWaiting: 0,
    fetchesServed: 0,
    tablesRelayed: 0,
    relaysServed: 0,
  };
  private readonly warnings: RateLimitedLog;
  /** The version of this node's table the cluster last heard of (the last delta sent). */
  private announced: number;
  /** This node's changes not yet sent (coalesceMs). */
  private pending: LocalChange[] = [];
  /** This node's changes sent in complete deltas, consecutive versions, oldest first (RECENT_CHANGE_MS). */
  private recent: Announced[] = [];
  private readonly now: () => number;
  private flushTimer?: unknown;
  private stopped = false;

  constructor(private readonly options: CheckSyncOptions) {
    this.timings = { ...DEFAULT_CHECK_SYNC_TIMINGS, ...options.timings };
    this.timers = options.timers ?? SYSTEM_TIMERS;
    const now = options.now ?? Date.now;
    this.now = now;
    this.warnings = new RateLimitedLog((message, fields) => options.onWarning?.(message, fields), now);
    this.announced = options.localTable?.().version ?? 0;
    this.fetcher = new TableFetcher({
      policy: options.timings,
      timers: this.timers,
      now,
      behind: (nodeId) => this.behind(nodeId),
      reachable: (nodeId) => {
        const state = options.engine.table.get(nodeId)?.state;
        return nodeId !== options.selfId && (state === 'alive' || state === 'suspect');
      },
      fetch: (nodeId) => this.fetch(nodeId),
      onFailure: (nodeId, error, retryInMs) =>
        this.warnings.warn('fetch', 'fetching a check table failed, retrying', {
          node: options.engine.table.get(nodeId)?.record.name ?? nodeId,
          error: messageOf(error),
          retry_in_ms: retryInMs,
        }),
    });
    const relay = options.relay;
    if (relay) {
      this.relay = new TableRelay({
        debounceMs: this.timings.relayDebounceMs,
        timers: this.timers,
        behind: () => [...this.wanted.keys()].filter((nodeId) => this.behind(nodeId)),
        holders: relay.holders,
        ask: (holder, nodeIds) => this.askRelay(relay, holder, nodeIds),
        onFailure: (holder, error) =>
          this.warnings.warn('relay', 'asking a member for the check tables it holds failed', {
            node: holder.record.name,
            error: messageOf(error),
          }),
      });
    }
  }

  stats(): CheckSyncStats {
    return {
      ...this.stats_,
      fetches: this.fetcher.stats.started,
      fetchFailures: this.fetcher.stats.failed,
    };
  }

  stop(): void {
    this.stopped = true;
    if (this.flushTimer !== undefined) this.timers.clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    this.fetcher.stop();
    this.relay?.stop();
  }

  // --- this node's changes -------------------------------------------------------------------

  /** A change of this node's table (the checks subsystem's `check-table-changed`). */
  onLocalChange(change: LocalChange): void {
    if (this.stopped || !this.options.localTable) return;
    // An event older than one already queued or sent says nothing new.
    if (change.version <= (this.pending.at(-1)?.version ?? this.announced)) return;
    this.pending.push(change);
    this.flushTimer ??= this.timers.setTimeout(() => this.flush(), this.timings.coalesceMs, true);
  }

  /**
   * Sends the changes queued: consecutive ones merged into a delta while it fits in half a packet
   * (room for the other news), and a change too large alone sent as "the version bumped" only.
   * Each complete delta also carries the changes announced in the last RECENT_CHANGE_MS before
   * its own, while it fits: it then applies on any version from the oldest it covers.
   */
  private flush(): void {
    this.flushTimer = undefined;
    const changes = this.pending;
    this.pending = [];
    if (this.stopped || !changes.length || !this.options.localTable) return;
    const table = this.options.localTable();
    const override = wireOverride(table.override);
    const summary = summarize(this.options.epoch, table.version, table.checks, override !== undefined);
    const maxBytes = Math.floor(this.options.engine.maxNewsBytes / 2);
    const fits = (delta: CheckDelta) => encodedSize(delta) <= maxBytes;
    const now = this.now();
    this.recent = this.recent.filter((entry) => now - entry.at < this.timings.recentChangeMs);
    const deltas: CheckDelta[] = [];
    let base = this.announced;
    // The changes of the delta being built, and them merged on top of `base`.
    let group: LocalChange[] = [];
    let merged = emptyGroup(base);
    const send = (): void => {
      deltas.push(this.extended(group, merged, summary, override, fits));
      for (const change of group) {
        this.recent.push({ change, base, at: now });
        base = change.version;
      }
      if (this.recent.length > MAX_RECENT_CHANGES)
        this.recent.splice(0, this.recent.length - MAX_RECENT_CHANGES);
      group = [];
      merged = emptyGroup(base);
    };
    for (const change of changes) {
      const grown = mergeChange(merged, change);
      if (fits(this.delta(grown, summary, true, override))) {
        group.push(change);
        merged = grown;
        continue;
      }
      if (group.length) send();
      const alone = mergeChange(merged, change);
      if (fits(this.delta(alone, summary, true, override))) {
        group = [change];
        merged = alone;
        continue;
      }
      // Too large alone: "the version bumped". No later delta can carry it, so none carries
      // what came before it either.
      deltas.push(this.delta(alone, summary, false, override));
      base = change.version;
      merged = emptyGroup(base);
      this.recent = [];
    }
    if (group.length) send();
    const last = deltas.at(-1);
    if (!last) return;
    this.announced = last.summary.version;
    // This node's record first: a push-pull answered meanwhile tells the version the deltas bring.
    this.options.engine.setCheckSummary(this.options.selfId, last.summary);
    for (const delta of deltas) {
      this.options.engine.broadcastCheckDelta(delta);
      if (delta.complete) this.stats_.deltasSent++;
      else this.stats_.versionOnlySent++;
    }
  }

  /**
   * The complete delta of `group` (`merged`: it merged on top of its base), carrying also the
   * recent changes announced just before it, the most it can while it fits (each one more brings
   * its base one version back).
   */
  private extended(
    group: LocalChange[],
    merged: Merged,
    summary: CheckSummary,
    override: CheckDelta['override'],
    fits: (delta: CheckDelta) => boolean,
  ): CheckDelta {
    let best = this.delta(merged, summary, true, override);
    let changes = group;
    let from = merged.base;
    for (let index = this.recent.length - 1; index >= 0; index--) {
      const earlier = this.recent[index]!;
      // Consecutive only: every version between its base and the delta's must be in it.
      if (earlier.change.version !== from) break;
      const candidate = this.delta(
        merge([earlier.change, ...changes], earlier.base),
        summary,
        true,
        override,
      );
      if (!fits(candidate)) break;
      best = candidate;
      changes = [earlier.change, ...changes];
      from = earlier.base;
    }
    return best;
  }

  private delta(
    group: Merged,
    summary: CheckSummary,
    complete: boolean,
    override: CheckDelta['override'],
  ): CheckDelta {
    return {
      nodeId: this.options.selfId,
      span: group.version - group.base,
      // The counts are the table's now: for a delta followed by others in the same flush, the
      // next ones bring the table there anyway.
      summary: { ...summary, version: group.version },
      complete,
      changed: complete ? [...group.changed.values()] : [],
      removed: complete ? [...group.removed] : [],
      ...(override ? { override } : {}),
    };
  }

  // --- other nodes' changes ------------------------------------------------------------------

  /** A delta from gossip; returns whether to relay it (news here). */
  onDelta(delta: CheckDelta): boolean {
    if (this.stopped || delta.nodeId === this.options.selfId) return false;
    const member = this.options.engine.table.get(delta.nodeId);
    // Of a node not (or no longer) a member: nothing to hold it against; its record brings it.
    if (!member || member.state === 'left') return false;
    // From before the node's last restart (its record announces a later epoch): void.
    if (delta.summary.epoch < member.record.checks.epoch) return false;
    const outcome = this.tables.receive(delta);
    if (!outcome.news) return false;
    if (compareStamps(delta.summary, member.record.checks) > 0)
      this.options.engine.setCheckSummary(delta.nodeId, delta.summary);
    if (outcome.applied) this.stats_.deltasApplied++;
    else {
      this.stats_.deltasWaiting++;
      // A version-only delta, nothing held yet, or a new epoch: only a fetch helps. A gap: the
      // delta missing may still come (gossip does not keep order), so a little later.
      const held = this.tables.get(delta.nodeId);
      const now = !delta.complete || !held || held.epoch !== delta.summary.epoch;
      this.want(delta.nodeId, delta.summary, now ? 0 : this.fetcher.policy.graceMs);
    }
    return true;
  }

  /** A member's record taken into the table (new, or a newer incarnation): its summary's version. */
  onRecord(member: Member): void {
    if (this.stopped || member.record.id === this.options.selfId) return;
    const nodeId = member.record.id;
    const held = this.tables.get(nodeId);
    // A newer incarnation announcing an older table (its clock went back across a restart): what
    // is held no longer says anything.
    if (held && compareStamps(member.record.checks, held) < 0) {
      this.tables.drop(nodeId);
      this.wanted.delete(nodeId);
    }
    this.observe(nodeId, member.record.checks);
  }

  /**
   * The entries of a push-pull (after the engine merged them): each summary at the incarnation
   * this node holds for that member may announce a version it lacks.
   */
  onState(entries: StateEntry[]): void {
    if (this.stopped) return;
    for (const entry of entries) {
      const nodeId = entry.record.id;
      const member = this.options.engine.table.get(nodeId);
      if (nodeId === this.options.selfId || !member || member.state === 'left') continue;
      if (entry.incarnation !== member.incarnation) continue;
      const summary = entry.record.checks;
      if (compareStamps(summary, member.record.checks) > 0)
        this.options.engine.setCheckSummary(nodeId, summary);
      this.observe(nodeId, summary);
    }
  }

  /**
   * A cluster RPC connection to `nodeId` opened: a table of it still wanted is fetched from it now,
   * rather than after the relay's grace (the node joined through us, or pushed-pulled with us).
   */
  onConnected(nodeId: string): void {
    if (this.stopped || nodeId === this.options.selfId || !this.wanted.has(nodeId)) return;
    if (this.behind(nodeId)) this.fetcher.want(nodeId, 0);
  }

  /** A member left: its table goes. Dead members keep theirs (marked so in checkTables()). */
  forget(nodeId: string): void {
    this.answers.delete(nodeId);
    this.tables.drop(nodeId);
    this.wanted.delete(nodeId);
    this.fetcher.forget(nodeId);
  }

  /** Drops what is kept about nodes no longer members (reaped) or left. */
  prune(): void {
    for (const nodeId of new Set([...this.tables.nodeIds(), ...this.fetcher.nodeIds()])) {
      const member = this.options.engine.table.get(nodeId);
      if (!member || member.state === 'left') this.forget(nodeId);
    }
  }

  /** A version seen announced: held already, an empty table to note, or one to fetch. */
  private observe(nodeId: string, summary: CheckSummary): void {
    const held = this.tables.get(nodeId);
    if (!held) {
      // A node without checks costs no fetch: its empty table is what the summary says.
      if (isEmpty(summary)) return this.tables.replace(nodeId, summary, []);
      return this.want(nodeId, summary, 0);
    }
    if (compareStamps(summary, held) <= 0) return;
    // A later epoch: the node restarted, deltas from before do not apply. A later version: its
    // delta may be on its way.
    this.want(nodeId, summary, summary.epoch > held.epoch ? 0 : this.fetcher.policy.graceMs);
  }

  private want(nodeId: string, stamp: Stamp, delayMs: number): void {
    const wanted = this.wanted.get(nodeId);
    if (!wanted || compareStamps(stamp, wanted) > 0)
      this.wanted.set(nodeId, { epoch: stamp.epoch, version: stamp.version });
    // A node connected already answers for itself at no handshake; any other is asked of a
    // connected member first, and of the node itself only if that did not bring it.
    const holders = this.options.relay?.holders() ?? [];
    if (this.relay && holders.length > 0 && !holders.some((holder) => holder.record.id === nodeId)) {
      this.relay.poke();
      delayMs = Math.max(delayMs, this.timings.relayGraceMs);
    }
    this.fetcher.want(nodeId, delayMs);
  }

  /** One relay request: the tables of `nodeIds` that `holder` holds newer than ours, each taken. */
  private async askRelay(relay: CheckRelay, holder: Member, nodeIds: string[]): Promise<void> {
    const wants = nodeIds.map((nodeId) => {
      const held = this.tables.get(nodeId);
      return held ? { nodeId, held: { epoch: held.epoch, version: held.version } } : { nodeId };
    });
    const answer = await relay.request(
      holder,
      encodeTablesRequest(WIRE_VERSION, wants),
      this.timings.fetchTimeoutMs,
    );
    if (this.stopped) return;
    const asked = new Set(nodeIds);
    for (const table of decodeTablesAnswer(WIRE_VERSION, answer)) {
      if (asked.has(table.nodeId)) this.takeRelayed(table);
    }
  }

  /** A table another member holds: taken as a delta would be, when newer than the one held. */
  private takeRelayed(table: FetchedTable): void {
    const { nodeId, summary } = table;
    const member = this.options.engine.table.get(nodeId);
    if (nodeId === this.options.selfId || !member || member.state === 'left') return;
    // From before the node's last restart (its record announces a later epoch): void.
    if (summary.epoch < member.record.checks.epoch) return;
    const held = this.tables.get(nodeId);
    if (held && compareStamps(summary, held) <= 0) return;
    this.tables.replace(nodeId, summary, table.checks, table.override);
    this.stats_.tablesRelayed++;
    const wanted = this.wanted.get(nodeId);
    if (wanted && compareStamps(summary, wanted) >= 0) this.wanted.delete(nodeId);
    if (compareStamps(summary, member.record.checks) > 0)
      this.options.engine.setCheckSummary(nodeId, summary);
  }

  private behind(nodeId: string): boolean {
    const held = this.tables.get(nodeId);
    if (!held) return true;
    const wanted = this.wanted.get(nodeId);
    const waiting = this.tables.newestWaiting(nodeId);
    return (
      (wanted !== undefined && compareStamps(wanted, held) > 0) ||
      (waiting !== undefined && compareStamps(waiting, held) > 0)
    );
  }

  /** One fetch from the node itself. */
  private async fetch(nodeId: string): Promise<void> {
    const member = this.options.engine.table.get(nodeId);
    if (!member) throw new Error('not a member any more');
    const wantedAtStart = this.wanted.get(nodeId);
    const answer = decodeTableAnswer(
      WIRE_VERSION,
      await this.options.request(
        member,
        encodeTableRequest(WIRE_VERSION, nodeId),
        this.timings.fetchTimeoutMs,
      ),
    );
    if (answer.nodeId !== nodeId)
      throw new Error(`${member.record.address}:${member.record.rpcPort} answered for another node`);
    // Left or reaped meanwhile: nothing to keep.
    const current = this.options.engine.table.get(nodeId);
    if (this.stopped || !current || current.state === 'left') return;
    const { summary } = answer;
    const held = this.tables.get(nodeId);
    // A delta applied while the answer was on its way may be newer than it; a later epoch is
    // newer than anything held.
    if (held && compareStamps(summary, held) < 0) return;
    this.tables.replace(nodeId, summary, answer.checks, answer.override);
    // The node's own word, on its table and on its summary: a version announced before (by
    // gossip heard earlier, perhaps forged, perhaps from before a restart) is no longer wanted,
    // unless a newer one came while the answer was on its way.
    if (this.wanted.get(nodeId) === wantedAtStart) this.wanted.delete(nodeId);
    this.options.engine.setCheckSummary(nodeId, summary);
  }

  // --- serving and reading -------------------------------------------------------------------

  /** Answers a fetch (CHECK_TABLE_PROTOCOL): this node's table, bounded; never another node's. */
  serve(request: Uint8Array): Uint8Array {
    const asked = decodeTableRequest(WIRE_VERSION, request);
    if (asked !== this.options.selfId)
      throw new Error(`asked for node ${asked}: this node answers only for itself`);
    this.stats_.fetchesServed++;
    return this.ownAnswer();
  }

  /**
   * Answers a relay request (CHECK_TABLES_PROTOCOL): the tables asked for that this node holds
   * newer than the asker's, its own included, up to MAX_RELAY_ANSWER_BYTES (the rest is asked
   * again later). Only newer: an asker still behind asks again, and must not be sent again what
   * it turned down.
   */
  serveRelay(request: Uint8Array): Uint8Array {
    const wants = decodeTablesRequest(WIRE_VERSION, request);
    this.stats_.relaysServed++;
    const tables: Uint8Array[] = [];
    const answered = new Set<string>();
    let bytes = 0;
    for (const { nodeId, held } of wants) {
      if (answered.has(nodeId)) continue;
      answered.add(nodeId);
      const answer = this.relayAnswer(nodeId, held);
      if (!answer) continue;
      if (bytes + answer.byteLength > MAX_RELAY_ANSWER_BYTES) break;
      tables.push(answer);
      bytes += answer.byteLength;
    }
    return encodeTablesAnswer(WIRE_VERSION, tables);
  }

  /** `nodeId`'s table as this node has it, if newer than `theirs` (the asker's stamp). */
  private relayAnswer(nodeId: string, theirs: Stamp | undefined): Uint8Array | undefined {
    if (nodeId === this.options.selfId) {
      const version = this.options.localTable?.().version ?? 0;
      if (theirs && compareStamps({ epoch: this.options.epoch, version }, theirs) <= 0) return undefined;
      return this.ownAnswer();
    }
    const held = this.tables.get(nodeId);
    if (!held || (theirs && compareStamps(held, theirs) <= 0)) return undefined;
    return this.heldAnswer(nodeId);
  }

  /** Encoded at each ask, as before the relay: the checks' outputs may move within a version. */
  private ownAnswer(): Uint8Array {
    const table = this.options.localTable?.() ?? emptyTable(this.options.selfId);
    return encodeTableAnswer(WIRE_VERSION, { ...table, node_id: this.options.selfId }, this.options.epoch);
  }

  /** Another node's table as this node holds it, if it holds one of a node still a member. */
  private heldAnswer(nodeId: string): Uint8Array | undefined {
    const held = this.tables.get(nodeId);
    const member = this.options.engine.table.get(nodeId);
    if (!held || !member || member.state === 'left') return undefined;
    const cached = this.answers.get(nodeId);
    if (cached && cached.held === held && cached.version === held.version) return cached.bytes;
    const bytes = encodeTableAnswer(WIRE_VERSION, heldAsTable(nodeId, held), held.epoch);
    this.answers.set(nodeId, { held, version: held.version, bytes });
    return bytes;
  }

  /** Every node's table this node holds, its own (from the checks subsystem) first. */
  checkTables(): NodeCheckTable[] {
    this.prune();
    const own = this.options.localTable?.();
    const tables: NodeCheckTable[] = own ? [{ ...own, node_state: 'alive' }] : [];
    for (const nodeId of this.tables.nodeIds()) {
      const held = this.tables.get(nodeId);
      const member = this.options.engine.table.get(nodeId);
      if (!held || !member || nodeId === this.options.selfId) continue;
      tables.push({
        node: member.record.name,
        node_id: nodeId,
        version: held.version,
        checks: [...held.checks.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)),
        ...(held.override ? { override: held.override } : {}),
        node_state: member.state,
      });
    }
    return tables;
  }
}

function emptyGroup(base: number): Merged {
  return { base, version: base, changed: new Map(), removed: new Set() };
}

/** `changes` (consecutive, in order) merged on top of `base`. */
function merge(changes: LocalChange[], base: number): Merged {
  return changes.reduce(mergeChange, emptyGroup(base));
}

/** `group` followed by `change` (a copy): the later state of a check wins, a removal cancels a change. */
function mergeChange(group: Merged, change: LocalChange): Merged {
  const merged: Merged = {
    base: group.base,
    version: change.version,
    changed: new Map(group.changed),
    removed: new Set(group.removed),
  };
  for (const name of change.removed) {
    merged.changed.delete(name);
    merged.removed.add(name);
  }
  for (const brief of change.changed) {
    const sent = wireBrief(brief);
    merged.removed.delete(sent.name);
    merged.changed.set(sent.name, sent);
  }
  return merged;
}

function encodedSize(delta: CheckDelta): number {
  return encodeMessage({ type: MessageType.CheckDelta, ...delta }).byteLength;
}

function isEmpty(summary: CheckSummary): boolean {
  return (
    !summary.override &&
    summary.ok + summary.warning + summary.critical + summary.unknown + summary.pending === 0
  );
}

function heldAsTable(nodeId: string, held: HeldTable): NodeCheckTable {
  return {
    node: '',
    node_id: nodeId,
    version: held.version,
    checks: [...held.checks.values()],
    ...(held.override ? { override: held.override } : {}),
  };
}

function emptyTable(nodeId: string): NodeCheckTable {
  return { node: '', node_id: nodeId, version: 0, checks: [] };
}
