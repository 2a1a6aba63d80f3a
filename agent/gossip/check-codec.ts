// The wire form of check state in gossip: the summary a node record carries, the brief of one
// check, the delta that spreads a change, and the table fetched whole over the cluster RPC. Every
// decoder bounds what it reads (names, outputs, list lengths, the table's size) and refuses the
// rest with a DecodeError, like codec.ts.
import {
  CHECK_BRIEF_OUTPUT_BYTES,
  type CheckBrief,
  type CheckState,
  type CheckSummary,
  type NodeCheckTable,
  type StatusOverride,
} from '../shared/api-types.js';
import { bounded, count, DecodeError, encode, id, list, safeDecode, text } from './wire-fields.js';
import { cutToBytes } from '../shared/format.js';

/** Longest check name carried (characters); a longer one is cut by the sender. */
export const MAX_CHECK_NAME_CHARS = 256;
/** What an override's reason keeps on the wire (bytes of UTF-8); the node itself keeps it all. */
export const OVERRIDE_REASON_BYTES = 256;
/**
 * Checks one node's table holds at most, in every other node's memory and in a fetch's answer.
 * Beyond, the worst states are kept first (critical, warning, unknown, pending, ok), then by name;
 * the summary still counts every check.
 */
export const MAX_TABLE_CHECKS = 1000;
/**
 * Bytes one node's table takes at most (its briefs' names and outputs, plus TABLE_BRIEF_OVERHEAD
 * each): with MAX_TABLE_CHECKS, what a node keeps per member and what a fetch may answer.
 */
export const MAX_TABLE_BYTES = 256 * 1024;
/** What a brief costs beyond its name and output, in a table's byte bound (the encoded fields). */
export const TABLE_BRIEF_OVERHEAD = 24;
/** Briefs and removed names one delta may carry (a delta fits a packet anyway). */
const MAX_DELTA_ITEMS = 256;
/** A count of the summary: far beyond any real table. */
const MAX_COUNT = 2 ** 31 - 1;
/** An epoch (seconds): 32 bits, until 2106. */
const MAX_EPOCH = 2 ** 32 - 1;
/** A fetch's answer at most: the table's bound, plus msgpack's headers. */
export const MAX_TABLE_ANSWER_BYTES = MAX_TABLE_BYTES + 64 * 1024;

export const EMPTY_SUMMARY: CheckSummary = {
  epoch: 0,
  version: 0,
  ok: 0,
  warning: 0,
  critical: 0,
  unknown: 0,
  pending: 0,
  override: false,
};

/**
 * One change of a node's table, as gossip spreads it: applied by a node holding version
 * `summary.version - span`, which then holds `summary.version`.
 */
export interface CheckDelta {
  nodeId: string;
  /** Versions this delta spans: a node applies it on top of version (summary.version - span). */
  span: number;
  /** The node's summary after the change; its version is the one this delta brings. */
  summary: CheckSummary;
  /**
   * false: "the version bumped" only, the change being too large for a packet; a node that
   * receives it fetches the table.
   */
  complete: boolean;
  changed: CheckBrief[];
  removed: string[];
  /** The override in force after the change (none: cleared, or never set). */
  override?: StatusOverride;
}

// States as small integers on the wire (one byte each).
const STATE_CODES: ReadonlyArray<CheckBrief['state']> = ['ok', 'warning', 'critical', 'unknown', 'pending'];

/** Orders two summaries (or tables) of one node: by epoch, then by version. */
export function compareStamps(
  a: Pick<CheckSummary, 'epoch' | 'version'>,
  b: Pick<CheckSummary, 'epoch' | 'version'>,
): number {
  return a.epoch - b.epoch || a.version - b.version;
}

export function summaryToWire(summary: CheckSummary): unknown[] {
  return [
    summary.epoch,
    summary.version,
    summary.ok,
    summary.warning,
    summary.critical,
    summary.unknown,
    summary.pending,
    summary.override,
  ];
}

export function summaryFromWire(raw: unknown, what: string): CheckSummary {
  const fields = list(raw, what, 8);
  if (fields.length !== 8 || typeof fields[7] !== 'boolean')
    throw new DecodeError(
      `${what}: expected [epoch, version, ok, warning, critical, unknown, pending, override]`,
    );
  return {
    epoch: bounded(fields[0], `${what} epoch`, MAX_EPOCH),
    version: count(fields[1], `${what} version`),
    ok: bounded(fields[2], `${what} ok`, MAX_COUNT),
    warning: bounded(fields[3], `${what} warning`, MAX_COUNT),
    critical: bounded(fields[4], `${what} critical`, MAX_COUNT),
    unknown: bounded(fields[5], `${what} unknown`, MAX_COUNT),
    pending: bounded(fields[6], `${what} pending`, MAX_COUNT),
    override: fields[7],
  };
}

/** The summary of a table: its epoch and version, its checks counted by state, whether an override is set. */
export function summarize(
  epoch: number,
  version: number,
  checks: Iterable<CheckBrief>,
  override: boolean,
): CheckSummary {
  const summary = { ...EMPTY_SUMMARY, epoch, version, override };
  for (const brief of checks) summary[brief.state]++;
  return summary;
}

/** A brief as it may travel: the name and the output's first line cut to their bounds. */
export function wireBrief(brief: CheckBrief): CheckBrief {
  const output = cutToBytes(brief.output.split('\n', 1)[0] ?? '', CHECK_BRIEF_OUTPUT_BYTES);
  const name =
    brief.name.length > MAX_CHECK_NAME_CHARS ? brief.name.slice(0, MAX_CHECK_NAME_CHARS) : brief.name;
  return output === brief.output && name === brief.name ? brief : { ...brief, name, output };
}

/** The override as it may travel (its reason cut to OVERRIDE_REASON_BYTES). */
export function wireOverride(override: StatusOverride | undefined): StatusOverride | undefined {
  return override && { ...override, reason: cutToBytes(override.reason, OVERRIDE_REASON_BYTES) };
}

function briefToWire(brief: CheckBrief): unknown[] {
  return [
    brief.name,
    STATE_CODES.indexOf(brief.state),
    brief.state_type === 'hard',
    brief.output,
    brief.since,
  ];
}

function briefFromWire(raw: unknown): CheckBrief {
  const fields = list(raw, 'check brief', 5);
  if (fields.length !== 5 || typeof fields[2] !== 'boolean')
    throw new DecodeError('check brief: expected [name, state, hard, output, since]');
  const state = STATE_CODES[bounded(fields[1], 'check state', STATE_CODES.length - 1)]!;
  const output = text(fields[3], 'check output', CHECK_BRIEF_OUTPUT_BYTES, true);
  if (Buffer.byteLength(output) > CHECK_BRIEF_OUTPUT_BYTES)
    throw new DecodeError(`check output: more than ${CHECK_BRIEF_OUTPUT_BYTES} bytes`);
  return {
    name: text(fields[0], 'check name', MAX_CHECK_NAME_CHARS),
    state,
    state_type: fields[2] ? 'hard' : 'soft',
    output,
    since: count(fields[4], 'check since'),
  };
}

function overrideToWire(override: StatusOverride | undefined): unknown {
  return override ? [override.reason, override.since] : null;
}

function overrideFromWire(raw: unknown): StatusOverride | undefined {
  if (raw === null || raw === undefined) return undefined;
  const fields = list(raw, 'status override', 2);
  const reason = text(fields[0], 'override reason', OVERRIDE_REASON_BYTES, true);
  if (Buffer.byteLength(reason) > OVERRIDE_REASON_BYTES)
    throw new DecodeError(`override reason: more than ${OVERRIDE_REASON_BYTES} bytes`);
  return { state: 'critical', reason, since: text(fields[1], 'override since', 40) };
}

/** A delta's fields after its message type (codec.ts frames it as a gossip message). */
export function deltaToWire(delta: CheckDelta): unknown[] {
  return [
    delta.nodeId,
    delta.span,
    summaryToWire(delta.summary),
    delta.complete,
    delta.changed.map(briefToWire),
    delta.removed,
    overrideToWire(delta.override),
  ];
}

export function deltaFromWire(fields: unknown[]): CheckDelta {
  if (fields.length !== 7 || typeof fields[3] !== 'boolean')
    throw new DecodeError(
      'check delta: expected [node, span, summary, complete, changed, removed, override]',
    );
  const summary = summaryFromWire(fields[2], 'check delta summary');
  const span = count(fields[1], 'check delta span');
  if (span < 1 || span > summary.version) throw new DecodeError('check delta: span beyond its version');
  const override = overrideFromWire(fields[6]);
  return {
    nodeId: id(fields[0], 'check delta node'),
    span,
    summary,
    complete: fields[3],
    changed: list(fields[4], 'check delta changes', MAX_DELTA_ITEMS).map(briefFromWire),
    removed: list(fields[5], 'check delta removals', MAX_DELTA_ITEMS).map((name) =>
      text(name, 'removed check', MAX_CHECK_NAME_CHARS),
    ),
    ...(override ? { override } : {}),
  };
}

/** What a brief counts for in a table's byte bound. */
export function briefBytes(brief: CheckBrief): number {
  return Buffer.byteLength(brief.name) + Buffer.byteLength(brief.output) + TABLE_BRIEF_OVERHEAD;
}

const SEVERITY: Record<CheckState | 'pending', number> = {
  critical: 0,
  warning: 1,
  unknown: 2,
  pending: 3,
  ok: 4,
};

/**
 * The briefs a table keeps: at most MAX_TABLE_CHECKS and MAX_TABLE_BYTES, the worst states first,
 * then by name (what is dropped beyond the bounds is the least worrying). Sorted that way.
 */
export function boundBriefs(briefs: Iterable<CheckBrief>): CheckBrief[] {
  const sorted = [...briefs].sort(
    (a, b) => SEVERITY[a.state] - SEVERITY[b.state] || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0),
  );
  const kept: CheckBrief[] = [];
  let bytes = 0;
  for (const brief of sorted) {
    const size = briefBytes(brief);
    if (kept.length >= MAX_TABLE_CHECKS || bytes + size > MAX_TABLE_BYTES) break;
    kept.push(brief);
    bytes += size;
  }
  return kept;
}

/** A fetch: "your table, please", naming the node asked (it answers only for itself). */
export function encodeTableRequest(wireVersion: number, nodeId: string): Uint8Array {
  return encode([wireVersion, nodeId]);
}

export function decodeTableRequest(wireVersion: number, bytes: Uint8Array): string {
  const raw = safeDecode(bytes);
  if (!Array.isArray(raw) || raw.length !== 2 || raw[0] !== wireVersion)
    throw new DecodeError('check table request: expected [version, node]');
  return id(raw[1], 'check table request node');
}

/** A fetched table: the node's summary (of all its checks) and the briefs it sends (bounded). */
export interface FetchedTable {
  nodeId: string;
  summary: CheckSummary;
  checks: CheckBrief[];
  override?: StatusOverride;
}

/** A table as a fetch answers it: bounded (boundBriefs), every field cut to its wire bound. */
export function encodeTableAnswer(wireVersion: number, table: NodeCheckTable, epoch: number): Uint8Array {
  const override = wireOverride(table.override);
  const summary = summarize(epoch, table.version, table.checks, override !== undefined);
  return encode([
    wireVersion,
    table.node_id,
    summaryToWire(summary),
    boundBriefs(table.checks.map(wireBrief)).map(briefToWire),
    overrideToWire(override),
  ]);
}

export function decodeTableAnswer(wireVersion: number, bytes: Uint8Array): FetchedTable {
  if (bytes.byteLength > MAX_TABLE_ANSWER_BYTES)
    throw new DecodeError(`check table: ${bytes.byteLength} bytes, over ${MAX_TABLE_ANSWER_BYTES}`);
  const raw = safeDecode(bytes);
  if (!Array.isArray(raw) || raw.length !== 5 || raw[0] !== wireVersion)
    throw new DecodeError('check table: expected [version, node, summary, checks, override]');
  const fields = raw as unknown[];
  const checks = list(fields[3], 'check table checks', MAX_TABLE_CHECKS).map(briefFromWire);
  if (checks.reduce((total, brief) => total + briefBytes(brief), 0) > MAX_TABLE_BYTES)
    throw new DecodeError(`check table: over ${MAX_TABLE_BYTES} bytes`);
  const override = overrideFromWire(fields[4]);
  return {
    nodeId: id(fields[1], 'check table node'),
    summary: summaryFromWire(fields[2], 'check table summary'),
    checks,
    ...(override ? { override } : {}),
  };
}

/**
 * Tables one relay request asks for at most (CHECK_TABLES_PROTOCOL): a node joining a cluster of
 * that many asks in several rounds.
 */
export const MAX_RELAYED_TABLES = 256;
/**
 * A relay answer stops adding tables past this many bytes (the RPC's own bound is 4 MiB): the
 * rest is asked in a later round. With MAX_TABLE_ANSWER_BYTES per table, at least three fit.
 */
export const MAX_RELAY_ANSWER_BYTES = 1024 * 1024;

/** A table a relay request asks for, with the stamp the asker holds (absent: it holds none). */
export interface RelayWant {
  nodeId: string;
  held?: { epoch: number; version: number };
}

/** A relay request: "the tables of these nodes you hold, if newer than mine" (yours included). */
export function encodeTablesRequest(wireVersion: number, wants: RelayWant[]): Uint8Array {
  return encode([
    wireVersion,
    wants
      .slice(0, MAX_RELAYED_TABLES)
      .map(({ nodeId, held }) => (held ? [nodeId, held.epoch, held.version] : [nodeId])),
  ]);
}

export function decodeTablesRequest(wireVersion: number, bytes: Uint8Array): RelayWant[] {
  const raw = safeDecode(bytes);
  if (!Array.isArray(raw) || raw.length !== 2 || raw[0] !== wireVersion)
    throw new DecodeError('check tables request: expected [version, wants]');
  return list(raw[1], 'check tables request wants', MAX_RELAYED_TABLES).map((want) => {
    if (!Array.isArray(want) || (want.length !== 1 && want.length !== 3))
      throw new DecodeError('check tables request: expected [node] or [node, epoch, version]');
    const nodeId = id(want[0], 'check tables request node');
    if (want.length === 1) return { nodeId };
    return {
      nodeId,
      held: {
        epoch: bounded(want[1], 'check tables request epoch', MAX_EPOCH),
        version: count(want[2], 'check tables request version'),
      },
    };
  });
}

/** A relay answer: each table held, as a fetch answers it (encodeTableAnswer's bytes). */
export function encodeTablesAnswer(wireVersion: number, tables: Uint8Array[]): Uint8Array {
  return encode([wireVersion, tables]);
}

export function decodeTablesAnswer(wireVersion: number, bytes: Uint8Array): FetchedTable[] {
  // Each table travels as bytes, up to a whole fetch answer's bound.
  const raw = safeDecode(bytes, MAX_TABLE_ANSWER_BYTES);
  if (!Array.isArray(raw) || raw.length !== 2 || raw[0] !== wireVersion)
    throw new DecodeError('check tables answer: expected [version, tables]');
  return list(raw[1], 'check tables answer tables', MAX_RELAYED_TABLES).map((table) => {
    if (!(table instanceof Uint8Array)) throw new DecodeError('check tables answer: a table is not bytes');
    return decodeTableAnswer(wireVersion, table);
  });
}
