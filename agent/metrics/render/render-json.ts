// The render API's `format=json` body, as graphite-web's views.py builds it and Grafana's Graphite
// data source reads it: one entry per series with its name as `target`, `[value, timestamp]`
// datapoints and its tags; with maxDataPoints, series longer than that are consolidated (each by
// its consolidation function) over the widest range of the response. Non-finite values (NaN,
// ±Infinity) become null.
import type { TimeSeries } from './series.js';

export interface RenderedSeries {
  target: string;
  datapoints: Array<[number | null, number]>;
  tags: Record<string, string>;
}

export interface RenderJsonOptions {
  /** graphite's `noNullPoints`: drop null points, and series left with none. */
  noNullPoints?: boolean;
}

/** The JSON body for `series`; the series themselves are left unchanged. */
export function renderJson(
  series: TimeSeries[],
  maxDataPoints?: number,
  options: RenderJsonOptions = {},
): RenderedSeries[] {
  if (maxDataPoints !== undefined && (!Number.isInteger(maxDataPoints) || maxDataPoints < 1)) {
    throw new Error(`maxDataPoints must be a positive integer, got ${maxDataPoints}`);
  }
  // graphite answers [] when no series holds any value at all.
  if (!series.some((one) => one.length > 0)) return [];
  const start = series.reduce((earliest, one) => Math.min(earliest, one.start), Infinity);
  const end = series.reduce((latest, one) => Math.max(latest, one.end), -Infinity);
  const rendered: RenderedSeries[] = [];
  for (const original of series) {
    const one = original.clone();
    if (maxDataPoints !== undefined) one.consolidate(maxDataPoints, end - start);
    let datapoints = one
      .datapoints()
      .map(([value, timestamp]): [number | null, number] => [
        value === null || !Number.isFinite(value) ? null : value,
        timestamp,
      ]);
    if (options.noNullPoints) {
      datapoints = datapoints.filter(([value]) => value !== null);
      if (datapoints.length === 0) continue;
    }
    rendered.push({ target: one.name, datapoints, tags: { ...one.tags } });
  }
  return rendered;
}
