// A fake metric store for the render tests: metrics defined point by point, fetched with whisper's
// alignment (the first value at the step after `from`, the end one step past `until`'s step), globs
// resolved with the render core's own matcher, and every fetch recorded so tests can check which
// windows were asked for (movingAverage's preview, timeShift's shift).
import { compileGlob } from '../../../agent/metrics/render/glob.js';
import { TimeSeries } from '../../../agent/metrics/render/series.js';

export interface FakeMetric {
  step: number;
  /** Value by epoch second; missing timestamps are null. */
  points: Record<number, number | null>;
}

export interface FetchCall {
  pathExpression: string;
  from: number;
  until: number;
}

export class FakeStore {
  readonly calls: FetchCall[] = [];

  constructor(
    private readonly metrics: Record<string, FakeMetric>,
    /** Answers for seriesByTag(...) texts, by exact text. */
    private readonly tagQueries: Record<string, string[]> = {},
  ) {}

  fetch = (pathExpression: string, from: number, until: number): Promise<TimeSeries[]> => {
    this.calls.push({ pathExpression, from, until });
    const names =
      this.tagQueries[pathExpression] ?? Object.keys(this.metrics).filter(compileGlob(pathExpression));
    return Promise.resolve(names.map((name) => this.series(name, from, until)));
  };

  private series(name: string, from: number, until: number): TimeSeries {
    const metric = this.metrics[name];
    if (!metric) throw new Error(`no metric ${name}`);
    const { step } = metric;
    const start = from - (from % step) + step;
    const end = until - (until % step) + step;
    const values: (number | null)[] = [];
    for (let timestamp = start; timestamp < end; timestamp += step)
      values.push(metric.points[timestamp] ?? null);
    return new TimeSeries(name, start, end, step, values);
  }
}

/** Points from `start` every `step` seconds. */
export function pointsFrom(
  start: number,
  step: number,
  values: (number | null)[],
): Record<number, number | null> {
  const points: Record<number, number | null> = {};
  values.forEach((value, index) => {
    points[start + index * step] = value;
  });
  return points;
}
