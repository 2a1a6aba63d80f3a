// A series as graphite-web's render functions see it (datalib.TimeSeries): a name, a time range
// [start, end] in epoch seconds, a step, one value per step (null for no data), and how it
// consolidates when several points must become one (for maxDataPoints, or to line up with a
// coarser series before aggregating). Consolidation is lazy, as in graphite: `values` stay as
// fetched and `valuesPerPoint` says how many of them make one point of the consolidated view.
import { pyMod } from './py.js';
import { parseSeriesTags } from './tags.js';

/** The consolidation functions graphite accepts (consolidateBy); `avg` is an alias of `average`,
 * `avg_zero` averages with nulls counted as 0. */
export type ConsolidationFunc = 'average' | 'avg' | 'avg_zero' | 'sum' | 'min' | 'max' | 'first' | 'last';

export const CONSOLIDATION_FUNCS: readonly ConsolidationFunc[] = [
  'average',
  'avg',
  'avg_zero',
  'first',
  'last',
  'max',
  'min',
  'sum',
];

/** graphite's DEFAULT_XFILES_FACTOR: one non-null value is enough for a consolidated point. */
export const DEFAULT_XFILES_FACTOR = 0;

export interface TimeSeriesOptions {
  consolidationFunc?: ConsolidationFunc;
  /** Given tags are used as they are; otherwise they are parsed from the name. */
  tags?: Record<string, string>;
  xFilesFactor?: number;
  /** Defaults to the name. */
  pathExpression?: string;
}

export class TimeSeries {
  name: string;
  /** Epoch seconds of the first value. */
  start: number;
  /** Epoch seconds the series ends at (graphite keeps the fetch's end: one step past the last value). */
  end: number;
  /** Seconds between values. */
  step: number;
  values: (number | null)[];
  consolidationFunc: ConsolidationFunc;
  /** How many raw values make one point when the series is read consolidated. */
  valuesPerPoint = 1;
  /** The path expression (or function text) that produced the series; aggregate names use it. */
  pathExpression: string;
  tags: Record<string, string>;
  /** Fraction of a consolidation bucket that must be non-null for the bucket to have a value. */
  xFilesFactor: number;

  constructor(
    name: string,
    start: number,
    end: number,
    step: number,
    values: (number | null)[],
    options: TimeSeriesOptions = {},
  ) {
    this.name = name;
    this.start = start;
    this.end = end;
    this.step = step;
    this.values = values;
    this.consolidationFunc = options.consolidationFunc ?? 'average';
    this.pathExpression = options.pathExpression || name;
    this.xFilesFactor = options.xFilesFactor ?? DEFAULT_XFILES_FACTOR;
    this.tags = options.tags ? { ...options.tags } : parseSeriesTags(name);
  }

  /** Raw values held (graphite's `len(series)`). */
  get length(): number {
    return this.values.length;
  }

  /** graphite's `series.consolidate(valuesPerPoint)`: read `valuesPerPoint` raw values as one point. */
  setValuesPerPoint(valuesPerPoint: number): void {
    this.valuesPerPoint = Math.max(1, Math.trunc(valuesPerPoint));
  }

  /** The values as graphite iterates them: consolidated in buckets of `valuesPerPoint`, the last
   * bucket possibly short; a bucket is null unless its non-null share reaches the xFilesFactor. */
  consolidatedValues(): (number | null)[] {
    if (this.valuesPerPoint <= 1) return this.values.slice();
    const out: (number | null)[] = [];
    const perPoint = this.valuesPerPoint;
    for (let bucketStart = 0; bucketStart < this.values.length; bucketStart += perPoint) {
      out.push(
        this.consolidateBucket(
          this.values,
          bucketStart,
          Math.min(bucketStart + perPoint, this.values.length),
        ),
      );
    }
    return out;
  }

  /**
   * Fits the series into `maxDataPoints` the way graphite-web's JSON renderer does (views.py):
   * when the range holds more points than allowed, values are consolidated `ceil(points / max)` at a
   * time, and the start is nudged so that buckets fall on multiples of the bucket width (the same
   * buckets on every refresh). `timeRangeSeconds` is the range of the whole response (graphite
   * uses the widest one across all series); it defaults to this series' own.
   */
  consolidate(maxDataPoints: number, timeRangeSeconds: number = this.end - this.start): void {
    if (!Number.isInteger(maxDataPoints) || maxDataPoints < 1) {
      throw new Error(`maxDataPoints must be a positive integer, got ${maxDataPoints}`);
    }
    if (maxDataPoints === 1) {
      this.setValuesPerPoint(this.values.length);
      return;
    }
    const pointCount = timeRangeSeconds / this.step;
    if (!(maxDataPoints < pointCount)) return;
    const valuesPerPoint = Math.ceil(pointCount / maxDataPoints);
    const secondsPerPoint = Math.trunc(valuesPerPoint * this.step);
    const nudgeSeconds = secondsPerPoint + pyMod(this.start, this.step) - pyMod(this.start, secondsPerPoint);
    this.start += nudgeSeconds;
    // graphite drops one value fewer than the nudge spans (`for r in range(1, valuesToLose)`);
    // reproduced so that the points match a real graphite's.
    const valuesToLose = Math.trunc(nudgeSeconds / this.step);
    if (valuesToLose > 1) this.values.splice(0, valuesToLose - 1);
    this.setValuesPerPoint(valuesPerPoint);
  }

  /** `[value, timestamp]` pairs as graphite's JSON has them: one timestamp per (consolidated) step
   * from start to end inclusive, paired with the values while both last. */
  datapoints(): Array<[number | null, number]> {
    const points: Array<[number | null, number]> = [];
    this.forEachDatapoint((value, timestamp) => points.push([value, timestamp]));
    return points;
  }

  /** Calls `visit` with each of datapoints()' pairs, in order, without making the pairs. */
  forEachDatapoint(visit: (value: number | null, timestamp: number) => void): void {
    const values = this.consolidatedValues();
    const start = Math.trunc(this.start);
    const end = Math.trunc(this.end);
    const stride = Math.trunc(this.step * this.valuesPerPoint);
    if (stride <= 0) {
      // graphite would fail on a zero step; a single point at the start is the useful answer.
      if (values.length > 0 && start <= end) visit(values[0] ?? null, start);
      return;
    }
    for (let i = 0, timestamp = start; i < values.length && timestamp <= end; i++, timestamp += stride) {
      visit(values[i] ?? null, timestamp);
    }
  }

  /** graphite's `series.copy(...)`: the path expression becomes the (new) name, as there. */
  copy(overrides: Partial<CopyOverrides> = {}): TimeSeries {
    const name = overrides.name ?? this.name;
    return new TimeSeries(
      name,
      overrides.start ?? this.start,
      overrides.end ?? this.end,
      overrides.step ?? this.step,
      overrides.values ?? this.values.slice(),
      {
        consolidationFunc: overrides.consolidationFunc ?? this.consolidationFunc,
        tags: overrides.tags ?? this.tags,
        xFilesFactor: overrides.xFilesFactor ?? this.xFilesFactor,
      },
    );
  }

  /** A deep copy keeping every field (a fetch result handed to two function calls must not be
   * shared: graphite's functions change series in place). */
  clone(): TimeSeries {
    const twin = new TimeSeries(this.name, this.start, this.end, this.step, this.values.slice(), {
      consolidationFunc: this.consolidationFunc,
      tags: this.tags,
      xFilesFactor: this.xFilesFactor,
      pathExpression: this.pathExpression,
    });
    twin.valuesPerPoint = this.valuesPerPoint;
    return twin;
  }

  /**
   * One consolidated point from values[from, to), in one pass and without copies (a render of a
   * day of 100 series makes 100,000 of them). Sums go in value order, max/min keep the first of
   * equals and NaN as a reduce over the non-null values would: the same floats as before.
   */
  private consolidateBucket(values: (number | null)[], from: number, to: number): number | null {
    let nonNull = 0;
    let total = 0;
    let first: number | undefined;
    let last = 0;
    let max = 0;
    let min = 0;
    for (let i = from; i < to; i++) {
      const value = values[i];
      if (value === null || value === undefined) continue;
      nonNull++;
      total += value;
      if (first === undefined) {
        first = max = min = value;
      } else {
        if (value > max) max = value;
        if (value < min) min = value;
      }
      last = value;
    }
    // The share is of a full bucket even for the short last one, as in graphite.
    if (nonNull === 0 || nonNull / this.valuesPerPoint < this.xFilesFactor) return null;
    switch (this.consolidationFunc) {
      case 'sum':
        return total;
      case 'average':
      case 'avg':
        return total / nonNull;
      case 'avg_zero':
        // Nulls count as zeros: the same total, over every value of the bucket.
        return total / (to - from);
      case 'max':
        return max;
      case 'min':
        return min;
      case 'first':
        return first ?? null;
      case 'last':
        return last;
    }
  }
}

export interface CopyOverrides {
  name: string;
  start: number;
  end: number;
  step: number;
  values: (number | null)[];
  consolidationFunc: ConsolidationFunc;
  tags: Record<string, string>;
  xFilesFactor: number;
}
