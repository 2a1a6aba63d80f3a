// Every other node's check table, as this node holds it: replaced whole by a fetch, moved forward
// by deltas that reach back to the version held (a delta may span several versions), within one
// epoch (a node's numbering; a restart starts another). A delta that does not reach back that far
// (one was missed, or arrives out of order) waits here, a few per node, until one before it or a
// fetch lets it apply. No I/O and no timers: check-sync.ts decides when to fetch.
import type { CheckBrief, StatusOverride } from '../shared/api-types.js';
import {
  boundBriefs,
  briefBytes,
  type CheckDelta,
  compareStamps,
  MAX_TABLE_BYTES,
  MAX_TABLE_CHECKS,
} from './check-codec.js';

/** Deltas kept per node while they cannot apply yet; beyond, the oldest is forgotten. */
export const MAX_WAITING_DELTAS = 16;
/**
 * Versions of deltas remembered per node as heard: one heard again (relayed back by another node)
 * is no news, even once forgotten from the waiting ones, so it is neither relayed again nor the
 * cause of another fetch.
 */
export const MAX_HEARD_DELTAS = 64;

/** One node's table as this node holds it. */
export interface HeldTable {
  epoch: number;
  version: number;
  checks: Map<string, CheckBrief>;
  override?: StatusOverride;
  /** Its briefs' bytes as MAX_TABLE_BYTES counts them. */
  bytes: number;
}

/** What receiving a delta did. */
export interface DeltaOutcome {
  /** A version this node had not seen: relay the delta. */
  news: boolean;
  /** The table moved forward (the delta, and any waiting after it, applied). */
  applied: boolean;
}

/** The version a delta applies on top of. */
export const baseOf = (delta: CheckDelta): number => delta.summary.version - delta.span;

export class CheckTables {
  private readonly tables = new Map<string, HeldTable>();
  private readonly waiting = new Map<string, CheckDelta[]>();
  private readonly heard = new Map<string, Array<CheckDelta['summary']>>();

  get(nodeId: string): HeldTable | undefined {
    return this.tables.get(nodeId);
  }

  nodeIds(): string[] {
    return [...new Set([...this.tables.keys(), ...this.waiting.keys(), ...this.heard.keys()])];
  }

  /** The summary of the newest delta waiting for `nodeId` (undefined: none waits). */
  newestWaiting(nodeId: string): CheckDelta['summary'] | undefined {
    return this.waiting.get(nodeId)?.at(-1)?.summary;
  }

  /**
   * A whole table (a fetch's answer, or an empty one a summary announces), then the deltas waiting
   * that follow it. Those that still do not are forgotten: the node's own answer is the truth, and
   * a delta that does not follow it is either older, forged, or newer than the answer (then the
   * next delta or summary shows the gap again). One forged delta can thus cost one fetch, never
   * a fetch every interval.
   */
  replace(
    nodeId: string,
    stamp: { epoch: number; version: number },
    checks: CheckBrief[],
    override?: StatusOverride,
  ): void {
    const table: HeldTable = {
      epoch: stamp.epoch,
      version: stamp.version,
      checks: new Map(),
      bytes: 0,
      ...(override ? { override } : {}),
    };
    for (const brief of boundBriefs(checks)) {
      table.checks.set(brief.name, brief);
      table.bytes += briefBytes(brief);
    }
    this.tables.set(nodeId, table);
    this.applyWaiting(nodeId);
    this.waiting.delete(nodeId);
  }

  /**
   * A delta from gossip: applied when it follows the version held, else kept to apply later (a
   * version-only delta never applies: only a fetch gets past it).
   */
  receive(delta: CheckDelta): DeltaOutcome {
    const { nodeId, summary } = delta;
    const held = this.tables.get(nodeId);
    const waiting = this.waiting.get(nodeId) ?? [];
    const heard = this.heard.get(nodeId) ?? [];
    if (
      (held && compareStamps(summary, held) <= 0) ||
      heard.some((other) => compareStamps(other, summary) === 0)
    )
      return { news: false, applied: false };
    heard.push(summary);
    if (heard.length > MAX_HEARD_DELTAS) heard.shift();
    this.heard.set(nodeId, heard);
    if (held && follows(delta, held)) {
      applyDelta(held, delta);
      this.applyWaiting(nodeId);
      return { news: true, applied: true };
    }
    waiting.push(delta);
    waiting.sort((a, b) => compareStamps(a.summary, b.summary));
    if (waiting.length > MAX_WAITING_DELTAS) waiting.shift();
    this.waiting.set(nodeId, waiting);
    return { news: true, applied: false };
  }

  /** Forgets a node's table and what waits for it (it left, was reaped, or restarted its versions). */
  drop(nodeId: string): void {
    this.tables.delete(nodeId);
    this.waiting.delete(nodeId);
    this.heard.delete(nodeId);
  }

  /**
   * Applies the waiting deltas that follow the version held, the newest that does first (it holds
   * what the others between bring); drops those behind it.
   */
  private applyWaiting(nodeId: string): void {
    const held = this.tables.get(nodeId);
    const waiting = this.waiting.get(nodeId);
    if (!held || !waiting) return;
    for (;;) {
      // Sorted oldest first.
      const next = waiting.findLast((delta) => follows(delta, held));
      if (!next) break;
      applyDelta(held, next);
    }
    const ahead = waiting.filter((delta) => compareStamps(delta.summary, held) > 0);
    if (ahead.length) this.waiting.set(nodeId, ahead);
    else this.waiting.delete(nodeId);
  }
}

/**
 * Whether `delta` applies on `table`: complete, of its epoch, newer, and reaching back to its
 * version. A delta spanning several versions holds each check's state at its last one for every
 * check changed (and every name removed) since its base, so it moves any version from its base on
 * to its own (check-sync.ts sends the last few seconds' changes again in each delta).
 */
function follows(delta: CheckDelta, table: HeldTable): boolean {
  return (
    delta.complete &&
    delta.summary.epoch === table.epoch &&
    baseOf(delta) <= table.version &&
    table.version < delta.summary.version
  );
}

/**
 * Moves `table` to the delta's version. Past the bounds (a node with more checks than a table
 * keeps), the worst states are kept, as a fetch would answer.
 */
function applyDelta(table: HeldTable, delta: CheckDelta): void {
  for (const name of delta.removed) {
    const brief = table.checks.get(name);
    if (brief) table.bytes -= briefBytes(brief);
    table.checks.delete(name);
  }
  for (const brief of delta.changed) {
    const previous = table.checks.get(brief.name);
    if (previous) table.bytes -= briefBytes(previous);
    table.checks.set(brief.name, brief);
    table.bytes += briefBytes(brief);
  }
  if (table.checks.size > MAX_TABLE_CHECKS || table.bytes > MAX_TABLE_BYTES) {
    const kept = boundBriefs(table.checks.values());
    table.checks = new Map(kept.map((brief) => [brief.name, brief]));
    table.bytes = kept.reduce((total, brief) => total + briefBytes(brief), 0);
  }
  table.version = delta.summary.version;
  if (delta.override) table.override = delta.override;
  else delete table.override;
}
