// Queries that include the other nodes' series: a render or a find on any node asks every other
// alive member, over the cluster RPC (`/opsbro/metrics/1.0.0`, msgpack), for the series of a path
// expression it holds, and merges them with its own; so one Grafana data source pointed at any
// agent shows the fleet. A member that does not answer within the timeout is left out of that
// answer (counted), not waited for. Requests are checked field by field, answers too.
import { decode, encode } from '@msgpack/msgpack';
import type { RpcHandler } from '../rpc/index.js';
import type { Aggregation } from './tsdb/retention.js';
import type { FetchedSeries } from './tsdb/series-store.js';

export const METRICS_PROTOCOL = '/opsbro/metrics/1.0.0';
/** How long a member has to answer one query. */
export const MEMBER_TIMEOUT_MS = 3_000;
/** The longest path expression a request carries (the render engine's own limit). */
const MAX_PATTERN_CHARS = 1024;
/** Series one member answers with at most. */
export const MAX_REMOTE_SERIES = 10_000;
const AGGREGATIONS = new Set<string>(['average', 'sum', 'min', 'max', 'last']);

/** The bytes of series one answer carries at most (under the RPC's 4 MiB message limit). */
const MAX_ANSWER_BYTES = 3 * 1024 * 1024;

export type MetricsRequest =
  { op: 'find'; pattern: string } | { op: 'fetch'; pattern: string; from: number; until: number };

/** A node of the metric tree at a find's depth: a leaf (a series), a branch (deeper ones), or both. */
export interface TreeNode {
  path: string;
  text: string;
  leaf: boolean;
  branch: boolean;
}

/** What the cluster queries need of this node: its own series, by path expression. */
export interface LocalSeries {
  find(pattern: string): TreeNode[];
  fetchMatching(pattern: string, from: number, until: number): Promise<FetchedSeries[]>;
}

/** The other members to ask, and how (gossip's, wired by main). */
export interface MetricsCluster {
  /** Alive (or suspect) members other than this node, by id. */
  peers(): string[];
  serveProtocol(protocol: string, handler: RpcHandler): void;
  requestMember(id: string, protocol: string, payload: Uint8Array, timeoutMs?: number): Promise<Uint8Array>;
}

export function metricsRpcHandler(local: LocalSeries): RpcHandler {
  return async (payload) => {
    const request = checkedRequest(decode(payload));
    if (request.op === 'find')
      return encode({ nodes: local.find(request.pattern).slice(0, MAX_REMOTE_SERIES) });
    const series = await local.fetchMatching(request.pattern, request.from, request.until);
    // Whole series only, up to the answer's budget (about 9 bytes a value in msgpack).
    const kept: FetchedSeries[] = [];
    let bytes = 0;
    for (const one of series.slice(0, MAX_REMOTE_SERIES)) {
      bytes += one.name.length + 64 + one.values.length * 9;
      if (bytes > MAX_ANSWER_BYTES) break;
      kept.push(one);
    }
    return encode({ series: kept });
  };
}

export class ClusterQueries {
  /** Members that did not answer a query in time (or failed), since the start. */
  failures = 0;

  constructor(private readonly cluster: MetricsCluster) {}

  /** Every other member's tree nodes for `pattern` (each member's answer, or none). */
  async find(pattern: string): Promise<TreeNode[]> {
    const answers = await this.askAll({ op: 'find', pattern }, (answer) => checkedNodes(answer));
    return answers.flat();
  }

  /** Every other member's series matching `pattern` over the window. */
  async fetch(pattern: string, from: number, until: number): Promise<FetchedSeries[]> {
    const answers = await this.askAll({ op: 'fetch', pattern, from, until }, (answer) =>
      checkedSeriesList(answer),
    );
    return answers.flat();
  }

  private async askAll<T>(request: MetricsRequest, check: (answer: unknown) => T): Promise<T[]> {
    const payload = encode(request);
    const settled = await Promise.allSettled(
      this.cluster
        .peers()
        .map(async (id) =>
          check(decode(await this.cluster.requestMember(id, METRICS_PROTOCOL, payload, MEMBER_TIMEOUT_MS))),
        ),
    );
    const answers: T[] = [];
    for (const outcome of settled) {
      if (outcome.status === 'fulfilled') answers.push(outcome.value);
      else this.failures++;
    }
    return answers;
  }
}

/**
 * Series of the same name from several nodes (statsd's `stats.*` names are the same on every node)
 * become one: where they share the step and the window, each slot takes the first value known;
 * otherwise the first one seen stays (this node's before the others').
 */
export function mergeSameNames(series: FetchedSeries[]): FetchedSeries[] {
  const byName = new Map<string, FetchedSeries>();
  for (const one of series) {
    const kept = byName.get(one.name);
    if (!kept) {
      byName.set(one.name, { ...one, values: [...one.values] });
      continue;
    }
    if (
      kept.stepSeconds !== one.stepSeconds ||
      kept.start !== one.start ||
      kept.values.length !== one.values.length
    )
      continue;
    one.values.forEach((value, at) => {
      if (kept.values[at] === null) kept.values[at] = value;
    });
  }
  return [...byName.values()];
}

class MetricsProtocolError extends Error {}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function checkedPattern(value: unknown): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > MAX_PATTERN_CHARS)
    throw new MetricsProtocolError('a path expression of 1 to 1024 characters');
  return value;
}

function checkedSeconds(value: unknown, what: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > 0xffff_ffff)
    throw new MetricsProtocolError(`${what}: whole seconds since the epoch`);
  return value;
}

function checkedRequest(value: unknown): MetricsRequest {
  if (!isObject(value)) throw new MetricsProtocolError('not a metrics request');
  const pattern = checkedPattern(value.pattern);
  if (value.op === 'find') return { op: 'find', pattern };
  if (value.op === 'fetch')
    return {
      op: 'fetch',
      pattern,
      from: checkedSeconds(value.from, 'from'),
      until: checkedSeconds(value.until, 'until'),
    };
  throw new MetricsProtocolError(`unknown metrics request ${JSON.stringify(value.op)}`);
}

function checkedName(name: unknown): string {
  if (typeof name !== 'string' || name.length === 0 || name.length > MAX_PATTERN_CHARS)
    throw new MetricsProtocolError('a series name of 1 to 1024 characters');
  return name;
}

function checkedNodes(value: unknown): TreeNode[] {
  if (!isObject(value) || !Array.isArray(value.nodes) || value.nodes.length > MAX_REMOTE_SERIES)
    throw new MetricsProtocolError('not a list of tree nodes');
  return value.nodes.map((node: unknown): TreeNode => {
    if (!isObject(node) || typeof node.leaf !== 'boolean' || typeof node.branch !== 'boolean')
      throw new MetricsProtocolError('not a tree node');
    return {
      path: checkedName(node.path),
      text: checkedName(node.text),
      leaf: node.leaf,
      branch: node.branch,
    };
  });
}

function checkedSeriesList(value: unknown): FetchedSeries[] {
  if (!isObject(value) || !Array.isArray(value.series) || value.series.length > MAX_REMOTE_SERIES)
    throw new MetricsProtocolError('not a list of series');
  return value.series.map((one: unknown): FetchedSeries => {
    if (!isObject(one)) throw new MetricsProtocolError('not a series');
    const name = checkedName(one.name);
    const start = checkedSeconds(one.start, 'start');
    const end = checkedSeconds(one.end, 'end');
    const step = one.stepSeconds;
    if (typeof step !== 'number' || !Number.isInteger(step) || step < 1)
      throw new MetricsProtocolError('a step');
    if (!Array.isArray(one.values) || one.values.length !== (end - start) / step)
      throw new MetricsProtocolError('values that do not fill the window');
    const values = one.values.map((v: unknown) => {
      if (v === null || (typeof v === 'number' && Number.isFinite(v))) return v;
      throw new MetricsProtocolError('a value that is not a number or null');
    });
    if (typeof one.aggregation !== 'string' || !AGGREGATIONS.has(one.aggregation))
      throw new MetricsProtocolError('an aggregation');
    return { name, start, end, stepSeconds: step, values, aggregation: one.aggregation as Aggregation };
  });
}
