// The metrics HTTP routes: graphite-web's render API as Grafana's Graphite data source calls it
// (`/render`, `/metrics/find`, `/metrics/expand`, `/functions`; GET with a query string or POST
// with a form body, as Grafana sends), and the store's counters. Reading metrics is a read route.
import { HttpError, HttpReply, type RequestContext, type Route } from '../shared/http.js';
import type { TreeNode } from './cluster.js';
import {
  evaluateTarget,
  functionsJson,
  GlobError,
  InputParameterError,
  parseAtTime,
  renderJsonText,
  TargetSyntaxError,
  TimeSeries,
} from './render/index.js';
import type { MetricsStats } from './subsystem.js';
import type { FetchedSeries } from './tsdb/series-store.js';

/** What the routes need of the subsystem. */
export interface MetricsReader {
  readonly enabled: boolean;
  /** This node's series names. */
  names(): Iterable<string>;
  /** The tree nodes for a find query: this node's, and the other members' unless `local`. */
  find(query: string, options: { local: boolean }): Promise<TreeNode[]>;
  /** The series a path expression matches over the window: this node's and the others' unless `local`. */
  fetchSeries(
    pattern: string,
    from: number,
    until: number,
    options: { local: boolean },
  ): Promise<FetchedSeries[]>;
  now(): number;
  statistics(): MetricsStats;
}

/** Targets one render may ask for, and the points it may answer with (bounded work per request). */
const MAX_TARGETS = 100;
const MAX_SERIES_PER_FETCH = 10_000;
const FORM_LIMIT_BYTES = 256 * 1024;

export function metricsRoutes(reader: MetricsReader): Route[] {
  const render = (context: RequestContext) => renderRoute(reader, context);
  const find = (context: RequestContext) => findRoute(reader, context);
  const expand = (context: RequestContext) => expandRoute(reader, context);
  const functions = (context: RequestContext) => {
    const params = paramsOf(context);
    const grouped = params.get('grouped') === 'true' || params.get('grouped') === '1';
    const group = params.get('group') ?? undefined;
    return new HttpReply(
      200,
      Buffer.from(functionsJson({ grouped, ...(group ? { group } : {}) })),
      {},
      'application/json',
    );
  };
  const both = (path: string, handler: Route['handler'], description: string): Route[] => [
    { method: 'GET', path, access: 'read', handler, description },
    {
      method: 'POST',
      path,
      access: 'read',
      handler,
      description,
      body: 'raw',
      maxBodyBytes: FORM_LIMIT_BYTES,
    },
  ];
  return [
    ...both('/render', render, "graphite-web's render API (format=json): targets, functions, from/until"),
    ...both('/metrics/find', find, 'the metric tree under a glob (treejson or completer)'),
    ...both('/metrics/expand', expand, 'the metric paths a glob expands to'),
    ...both('/functions', functions, 'the render functions, as graphite-web lists them'),
    {
      method: 'GET',
      path: '/metrics/index.json',
      access: 'read',
      handler: () => {
        requireEnabled(reader);
        return [...reader.names()].sort();
      },
      description: "every series' name, sorted (graphite-web's index)",
    },
    {
      method: 'GET',
      path: '/agent/metrics/stats',
      access: 'read',
      handler: () => reader.statistics(),
      description: 'the metrics store and listeners: series, points, drops, bad lines',
    },
  ];
}

/** The query string, with a POST's form body's fields added (Grafana posts its targets). */
function paramsOf(context: RequestContext): URLSearchParams {
  const params = new URLSearchParams(context.query);
  if (context.rawBody?.byteLength) {
    for (const [key, value] of new URLSearchParams(context.rawBody.toString('utf8')))
      params.append(key, value);
  }
  return params;
}

function requireEnabled(reader: MetricsReader): void {
  if (!reader.enabled)
    throw new HttpError(404, 'the metrics store is disabled on this node (metrics.enabled)');
}

async function renderRoute(reader: MetricsReader, context: RequestContext): Promise<unknown> {
  requireEnabled(reader);
  const params = paramsOf(context);
  const format = params.get('format') ?? 'json';
  if (format !== 'json') throw new HttpError(400, `format=${format} is not served: only format=json`);
  const targets = params.getAll('target').filter((target) => target.trim() !== '');
  if (targets.length > MAX_TARGETS) throw new HttpError(400, `at most ${MAX_TARGETS} targets per render`);
  const now = Math.floor(reader.now() / 1000);
  const from = timeParam(params, 'from', '-24h', now);
  const until = timeParam(params, 'until', 'now', now);
  if (from >= until) throw new HttpError(400, `from (${from}) must be before until (${until})`);
  const maxDataPoints = optionalPositiveInteger(params, 'maxDataPoints');
  const noNullPoints = params.get('noNullPoints') === 'true' || params.get('noNullPoints') === '1';
  const local = isLocal(params);
  const series: TimeSeries[] = [];
  for (const target of targets) {
    try {
      series.push(
        ...(await evaluateTarget(target, {
          from,
          until,
          now,
          fetch: (path, a, b) => fetchSeries(reader, path, a, b, local),
        })),
      );
    } catch (error) {
      if (error instanceof TargetSyntaxError || error instanceof InputParameterError)
        throw new HttpError(400, `target ${JSON.stringify(target)}: ${error.message}`);
      throw error;
    }
  }
  // Written as text, not handed to the server's JSON.stringify: see renderJsonText.
  const body = renderJsonText(series, maxDataPoints, { noNullPoints });
  return new HttpReply(200, Buffer.from(body), {}, 'application/json; charset=utf-8');
}

/** The stored series a path expression (a glob) names, fetched over the window. */
async function fetchSeries(
  reader: MetricsReader,
  pathExpression: string,
  from: number,
  until: number,
  local: boolean,
): Promise<TimeSeries[]> {
  let fetched;
  try {
    fetched = await reader.fetchSeries(pathExpression, from, until, { local });
  } catch (error) {
    if (error instanceof GlobError) throw new InputParameterError(error.message);
    throw error;
  }
  if (fetched.length > MAX_SERIES_PER_FETCH)
    throw new InputParameterError(
      `${pathExpression} matches ${fetched.length} series, over ${MAX_SERIES_PER_FETCH}`,
    );
  return fetched.map(
    (one) =>
      new TimeSeries(one.name, one.start, one.end, one.stepSeconds, one.values, {
        // Consolidated for maxDataPoints as its points were rolled up.
        consolidationFunc: one.aggregation,
        pathExpression,
      }),
  );
}

/** `?local=1`: this node's series only (the others' are asked unless so). */
function isLocal(params: URLSearchParams): boolean {
  const local = params.get('local');
  return local === '1' || local === 'true';
}

async function findNodes(reader: MetricsReader, query: string, params: URLSearchParams): Promise<TreeNode[]> {
  try {
    return await reader.find(query, { local: isLocal(params) });
  } catch (error) {
    if (error instanceof GlobError)
      throw new HttpError(400, `query ${JSON.stringify(query)}: ${error.message}`);
    throw error;
  }
}

async function findRoute(reader: MetricsReader, context: RequestContext): Promise<unknown> {
  requireEnabled(reader);
  const params = paramsOf(context);
  const query = params.get('query');
  if (!query) throw new HttpError(400, 'query is required, e.g. query=*');
  const format = params.get('format') ?? 'treejson';
  const nodes = await findNodes(reader, query, params);
  // Each node that is both is listed as a branch and as a leaf.
  const listed = nodes.flatMap((node) =>
    node.branch && node.leaf
      ? [
          { ...node, leaf: false },
          { ...node, branch: false },
        ]
      : [node],
  );
  if (format === 'treejson')
    return listed.map((node) => ({
      id: node.path,
      text: node.text,
      leaf: node.leaf ? 1 : 0,
      expandable: node.leaf ? 0 : 1,
      allowChildren: node.leaf ? 0 : 1,
      context: {},
    }));
  if (format === 'completer')
    return {
      metrics: listed.map((node) => ({
        path: node.leaf ? node.path : `${node.path}.`,
        name: node.text,
        is_leaf: node.leaf ? '1' : '0',
      })),
    };
  throw new HttpError(400, `format=${format} is not served: treejson or completer`);
}

async function expandRoute(reader: MetricsReader, context: RequestContext): Promise<unknown> {
  requireEnabled(reader);
  const params = paramsOf(context);
  const queries = params.getAll('query');
  if (!queries.length) throw new HttpError(400, 'query is required, e.g. query=web*.cpu.*');
  const leavesOnly = params.get('leavesOnly') === '1' || params.get('leavesOnly') === 'true';
  const results = new Set<string>();
  for (const query of queries)
    for (const node of await findNodes(reader, query, params))
      if (!leavesOnly || node.leaf) results.add(node.path);
  return { results: [...results].sort() };
}

function timeParam(params: URLSearchParams, name: string, fallback: string, now: number): number {
  const text = params.get(name) || fallback;
  try {
    return parseAtTime(text, now);
  } catch (error) {
    throw new HttpError(400, `${name}: ${(error as Error).message}`);
  }
}

function optionalPositiveInteger(params: URLSearchParams, name: string): number | undefined {
  const text = params.get(name);
  if (text === null || text === '') return undefined;
  const value = Number(text);
  if (!Number.isInteger(value) || value < 1)
    throw new HttpError(400, `${name} must be a positive integer, got ${JSON.stringify(text)}`);
  return value;
}
