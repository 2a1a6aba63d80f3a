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
  const rendered: RenderedSeries[] = [];
  for (const one of consolidated(series, maxDataPoints)) {
    const datapoints: Array<[number | null, number]> = [];
    one.forEachDatapoint((value, timestamp) => {
      const shown = value === null || !Number.isFinite(value) ? null : value;
      if (shown !== null || !options.noNullPoints) datapoints.push([shown, timestamp]);
    });
    if (options.noNullPoints && datapoints.length === 0) continue;
    rendered.push({ target: one.name, datapoints, tags: { ...one.tags } });
  }
  return rendered;
}

/**
 * `JSON.stringify(renderJson(...))`, written straight into text: a render of 100 series over a day
 * makes 100,000 pairs that nothing else needs, and stringifying them took longer than reading the
 * points from the store. A finite number's JSON is its String() (-0 included: both say "0").
 */
export function renderJsonText(
  series: TimeSeries[],
  maxDataPoints?: number,
  options: RenderJsonOptions = {},
): string {
  const entries: string[] = [];
  for (const one of consolidated(series, maxDataPoints)) {
    const pairs: string[] = [];
    one.forEachDatapoint((value, timestamp) => {
      if (value === null || !Number.isFinite(value)) {
        if (!options.noNullPoints) pairs.push('[null,' + timestamp + ']');
      } else {
        pairs.push('[' + value + ',' + timestamp + ']');
      }
    });
    if (options.noNullPoints && pairs.length === 0) continue;
    entries.push(
      '{"target":' +
        JSON.stringify(one.name) +
        ',"datapoints":[' +
        pairs.join(',') +
        '],"tags":' +
        JSON.stringify({ ...one.tags }) +
        '}',
    );
  }
  return `[${entries.join(',')}]`;
}

/** Copies of the series, consolidated for maxDataPoints over the response's widest range. */
function* consolidated(series: TimeSeries[], maxDataPoints: number | undefined): Generator<TimeSeries> {
  if (maxDataPoints !== undefined && (!Number.isInteger(maxDataPoints) || maxDataPoints < 1)) {
    throw new Error(`maxDataPoints must be a positive integer, got ${maxDataPoints}`);
  }
  // graphite answers [] when no series holds any value at all.
  if (!series.some((one) => one.length > 0)) return;
  const start = series.reduce((earliest, one) => Math.min(earliest, one.start), Infinity);
  const end = series.reduce((latest, one) => Math.max(latest, one.end), -Infinity);
  for (const original of series) {
    const one = original.clone();
    if (maxDataPoints !== undefined) one.consolidate(maxDataPoints, end - start);
    yield one;
  }
}
