// The null-tolerant arithmetic of graphite-web's functions/safe.py and the aggregation functions of
// functions/aggfuncs.py (what sumSeries, summarize, highestCurrent and friends apply to a row or a
// series of values). Nulls are skipped unless said otherwise; an all-null input gives null.

export type Value = number | null;

/** An aggregation over values that may be null. */
export type AggFunc = (values: readonly Value[]) => Value;

function nonNull(values: readonly Value[]): number[] {
  const out: number[] = [];
  for (const value of values) if (value !== null) out.push(value);
  return out;
}

export function safeSum(values: readonly Value[]): Value {
  const usable = nonNull(values);
  if (usable.length === 0) return null;
  let total = 0;
  for (const value of usable) total += value;
  return total;
}

/** The first non-null value minus all the following non-null ones. */
export function safeDiff(values: readonly Value[]): Value {
  const usable = nonNull(values);
  if (usable.length === 0) return null;
  let total = usable[0] ?? 0;
  for (const value of usable.slice(1)) total -= value;
  return total;
}

export function safeLen(values: readonly Value[]): number {
  return nonNull(values).length;
}

export function safeDiv(a: Value, b: Value): Value {
  if (a === null || b === null || b === 0) return null;
  return a / b;
}

export function safeMul(...factors: Value[]): Value {
  if (factors.length === 0) return null;
  let product = 1;
  for (const factor of factors) {
    if (factor === null) return null;
    product *= factor;
  }
  return product;
}

export function safeSubtract(a: Value, b: Value): Value {
  return a === null || b === null ? null : a - b;
}

export function safeAvg(values: readonly Value[]): Value {
  const usable = nonNull(values);
  if (usable.length === 0) return null;
  let total = 0;
  for (const value of usable) total += value;
  return total / usable.length;
}

/** The average with nulls counted as zeros; null only for no values at all. */
export function safeAvgZero(values: readonly Value[]): Value {
  if (values.length === 0) return null;
  let total = 0;
  for (const value of values) total += value ?? 0;
  return total / values.length;
}

export function safeMedian(values: readonly Value[]): Value {
  const sorted = nonNull(values).sort((a, b) => a - b);
  if (sorted.length === 0) return null;
  const mid = Math.floor(sorted.length / 2);
  if (sorted.length % 2 === 0) return ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
  return sorted[mid] ?? null;
}

/** Population standard deviation of the non-null values. */
export function safeStdDev(values: readonly Value[]): Value {
  const average = safeAvg(values);
  if (average === null) return null;
  const usable = nonNull(values);
  let squares = 0;
  for (const value of usable) squares += (value - average) * (value - average);
  return Math.sqrt(squares / usable.length);
}

export function safeLast(values: readonly Value[]): Value {
  for (let i = values.length - 1; i >= 0; i--) {
    const value = values[i];
    if (value !== null && value !== undefined) return value;
  }
  return null;
}

export function safeMin(values: readonly Value[]): Value {
  const usable = nonNull(values);
  if (usable.length === 0) return null;
  return usable.reduce((a, b) => (b < a ? b : a));
}

export function safeMax(values: readonly Value[]): Value {
  const usable = nonNull(values);
  if (usable.length === 0) return null;
  return usable.reduce((a, b) => (b > a ? b : a));
}

export function safeAbs(value: Value): Value {
  return value === null ? null : Math.abs(value);
}

/** graphite's aggFuncs, by name. */
export const AGG_FUNCS: Readonly<Record<string, AggFunc>> = {
  average: safeAvg,
  avg_zero: safeAvgZero,
  median: safeMedian,
  sum: safeSum,
  min: safeMin,
  max: safeMax,
  diff: safeDiff,
  stddev: safeStdDev,
  count: (values) => safeLen(values),
  range: (values) => safeSubtract(safeMax(values), safeMin(values)),
  multiply: (values) => safeMul(...values),
  last: safeLast,
};

/** graphite's aggFuncAliases. */
export const AGG_FUNC_ALIASES: Readonly<Record<string, string>> = {
  rangeOf: 'range',
  avg: 'average',
  total: 'sum',
  current: 'last',
};

/** Every aggregation name graphite accepts, sorted as its /functions endpoint lists them. */
export const AGG_FUNC_NAMES: readonly string[] = [
  ...Object.keys(AGG_FUNCS),
  ...Object.keys(AGG_FUNC_ALIASES),
].sort();

/** The aggregation called `name` (an alias is resolved); throws naming the function otherwise. */
export function getAggFunc(name: string): AggFunc {
  const resolved = Object.hasOwn(AGG_FUNCS, name) ? name : AGG_FUNC_ALIASES[name];
  const func = resolved !== undefined && Object.hasOwn(AGG_FUNCS, resolved) ? AGG_FUNCS[resolved] : undefined;
  if (!func) throw new Error(`Unsupported aggregation function: ${name}`);
  return func;
}
