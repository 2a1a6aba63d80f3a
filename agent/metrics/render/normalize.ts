// The helpers graphite-web's combining functions share (render/functions.py): normalize (bring
// series to a common step, the least common multiple of theirs, by consolidating the finer ones),
// aggregate (one series from a row-wise aggregation), the xFilesFactor test, the names built from
// path expressions, and the node/tag keys that aliasByNode and groupByNode group on.
import { getAggFunc, type Value } from './aggfuncs.js';
import { NormalizeEmptyResultError, type RenderWindow } from './function-types.js';
import { parseTarget, type ArgNode } from './parser.js';
import { pyFloorDiv, pyMod } from './py.js';
import { TimeSeries } from './series.js';

function gcd(a: number, b: number): number {
  let [x, y] = [a, b];
  while (y !== 0) [x, y] = [y, pyMod(x, y)];
  return x;
}

/** graphite's lcm of two steps. */
export function lcm(a: number, b: number): number {
  if (a === b) return a;
  const [big, small] = a < b ? [b, a] : [a, b];
  return pyFloorDiv(big, gcd(big, small)) * small;
}

export interface Normalized {
  seriesList: TimeSeries[];
  /** Epoch seconds: the earliest start. */
  start: number;
  /** Epoch seconds: the latest end, cut back to a whole number of steps from start. */
  end: number;
  /** Seconds: the lcm of the steps. */
  step: number;
}

/**
 * graphite's normalize: every series is set to consolidate down to the common step. Values are
 * then paired by position, not by timestamp, exactly as graphite does (series with different
 * starts are not realigned). Throws NormalizeEmptyResultError when there is no series at all.
 */
export function normalize(seriesLists: readonly (readonly TimeSeries[])[]): Normalized {
  const seriesList = seriesLists.flat();
  if (seriesList.length === 0) throw new NormalizeEmptyResultError();
  const step = seriesList.map((series) => series.step).reduce(lcm);
  for (const series of seriesList) series.setValuesPerPoint(pyFloorDiv(step, series.step));
  const start = seriesList.reduce((earliest, series) => Math.min(earliest, series.start), Infinity);
  let end = seriesList.reduce((latest, series) => Math.max(latest, series.end), -Infinity);
  end -= pyMod(end - start, step);
  return { seriesList, start, end, step };
}

/** Rows of the series' (consolidated) values, padded with nulls to the longest (izip_longest). */
export function zipLongest(seriesList: readonly TimeSeries[]): Value[][] {
  const columns = seriesList.map((series) => series.consolidatedValues());
  const length = columns.reduce((longest, column) => Math.max(longest, column.length), 0);
  const rows: Value[][] = [];
  for (let i = 0; i < length; i++) rows.push(columns.map((column) => column[i] ?? null));
  return rows;
}

/** graphite's xff: at least one non-null value, and a non-null share of at least xFilesFactor. */
export function xff(nonNull: number, total: number, xFilesFactor: number): boolean {
  if (!nonNull || !total) return false;
  return nonNull / total >= xFilesFactor;
}

export function xffValues(values: readonly Value[], xFilesFactor: number): boolean {
  if (values.length === 0) return false;
  return xff(values.filter((value) => value !== null).length, values.length, xFilesFactor);
}

/** The distinct path expressions of a list, joined by commas (aggregate names: `sumSeries(a.*)`). */
export function formatPathExpressions(seriesList: readonly TimeSeries[]): string {
  return [...new Set(seriesList.map((series) => series.pathExpression))].join(',');
}

/**
 * graphite's aggregate: one series from `func` applied row by row across the normalized lists,
 * named `<func>Series(<path expressions>)`, tagged with the tags every input shares plus
 * `aggregatedBy`. `func` may carry a `Series` suffix (`sumSeries` is `sum`).
 */
export function aggregate(
  window: RenderWindow,
  seriesLists: readonly (readonly TimeSeries[])[],
  rawFunc: string,
  xFilesFactor?: number,
): TimeSeries[] {
  const func = rawFunc.endsWith('Series') ? rawFunc.slice(0, -'Series'.length) : rawFunc;
  let aggFunc;
  try {
    aggFunc = getAggFunc(func);
  } catch {
    throw new Error(`Unsupported aggregation function: ${rawFunc}`);
  }
  let normalized: Normalized;
  try {
    normalized = normalize(seriesLists);
  } catch (error) {
    if (error instanceof NormalizeEmptyResultError) return [];
    throw error;
  }
  const { seriesList, start, end, step } = normalized;
  const effectiveXff = xFilesFactor ?? window.xFilesFactor;
  const name = `${func}Series(${formatPathExpressions(seriesList)})`;
  const values = zipLongest(seriesList).map((row) => (xffValues(row, effectiveXff) ? aggFunc(row) : null));
  let tags: Record<string, string> = { ...(seriesList[0]?.tags ?? {}) };
  for (const series of seriesList) {
    const shared: Record<string, string> = {};
    for (const [key, value] of Object.entries(tags)) if (series.tags[key] === value) shared[key] = value;
    tags = shared;
  }
  if (!('name' in tags)) tags.name = name;
  tags.aggregatedBy = func;
  return [new TimeSeries(name, start, end, step, values, { xFilesFactor: effectiveXff, tags })];
}

/** The first metric path inside a function-style name (`scale(a.b.c,2)` → `a.b.c`), as graphite
 * finds it by parsing the name; undefined when the name does not parse or has none. */
export function firstPathExpression(name: string): string | undefined {
  let node: ArgNode;
  try {
    node = parseTarget(name);
  } catch {
    return undefined;
  }
  for (;;) {
    if (node.type === 'path') return node.path;
    if (node.type !== 'call') return undefined;
    const first: ArgNode | undefined = node.args[0];
    if (!first) return undefined;
    node = first;
  }
}

/** A node of the name (an integer, negative from the end) or, failing that, a tag's value ('' when
 * absent): graphite's getNodeOrTag. */
export function nodeOrTag(series: TimeSeries, key: number | string, pathExpression?: string): string {
  if (typeof key === 'number' && Number.isInteger(key)) {
    const nodes = (pathExpression ?? series.name).split(';')[0]?.split('.') ?? [];
    const index = key < 0 ? nodes.length + key : key;
    const node = nodes[index];
    if (node !== undefined && index >= 0) return node;
  }
  return series.tags[String(key)] ?? '';
}

/** graphite's aggKey: the chosen nodes/tags joined by dots; for a function-style name the nodes are
 * those of its first path expression. */
export function aggKey(series: TimeSeries, keys: readonly (number | string)[]): string {
  const pathExpression = series.name.endsWith(')') ? firstPathExpression(series.name) : undefined;
  return keys.map((key) => nodeOrTag(series, key, pathExpression)).join('.');
}
