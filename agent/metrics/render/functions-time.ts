// Render functions that work across time (graphite-web's render/functions.py): summarize and
// hitcount rebucket a series into intervals; movingAverage and timeShift evaluate their series
// again over another window (the preview before `from`, or the shifted range), as graphite does.
import { getAggFunc, safeAvg, type Value } from './aggfuncs.js';
import { booleanArg, optionalNumberArg, seriesListArg, stringArg } from './arg-access.js';
import type { CallEnv, FunctionDefinition, ParamInfo, RenderWindow } from './function-types.js';
import { InputParameterError } from './function-types.js';
import { xff } from './normalize.js';
import { pyFloorDiv, pyMod, pyNumberStr } from './py.js';
import type { TimeSeries } from './series.js';
import { parseTimeOffset } from './time.js';

/** Most points a function may generate for one series (summarize('1s') over years, say). */
export const MAX_GENERATED_POINTS = 1_000_000;
/** Above this many window additions, movingAverage keeps a running sum instead of re-adding each
 * window (the last bits of a float may then differ from graphite's). */
const MOVING_AVERAGE_EXACT_WORK = 20_000_000;

const SERIES_LIST: ParamInfo = { name: 'seriesList', type: 'seriesList', required: true };
const INTERVAL_SUGGESTIONS = ['10min', '1h', '1d'];
const SHIFT_SUGGESTIONS = ['1h', '6h', '12h', '1d', '2d', '7d', '14d', '30d'];
const WINDOW_SUGGESTIONS = [5, 7, 10, '1min', '5min', '10min', '30min', '1hour'];
const DAY_SECONDS = 86400;
const HOUR_SECONDS = 3600;
const MINUTE_SECONDS = 60;

function positiveIntervalSeconds(functionName: string, intervalString: string): number {
  const seconds = parseTimeOffset(intervalString);
  if (!(seconds > 0)) {
    throw new InputParameterError(
      `${functionName}: the interval must be positive, got ${JSON.stringify(intervalString)}`,
    );
  }
  return seconds;
}

function checkPointCount(functionName: string, count: number): void {
  if (count > MAX_GENERATED_POINTS) {
    throw new InputParameterError(
      `${functionName} would make ${count} points per series (at most ${MAX_GENERATED_POINTS}): use a longer interval or a shorter range`,
    );
  }
}

function firstArgument(env: CallEnv, functionName: string): NonNullable<CallEnv['firstArgNode']> {
  if (!env.firstArgNode)
    throw new InputParameterError(`${functionName} needs its series list as the first positional argument`);
  return env.firstArgNode;
}

/** graphite's _summarizeValues: buckets of `intervalSeconds` from `newStart` until `newEnd`. */
function summarizeValues(
  series: TimeSeries,
  func: string,
  intervalSeconds: number,
  newStart: number,
  newEnd: number,
): { values: Value[]; alignedEnd: number } {
  const aggFunc = getAggFunc(func);
  const first = Math.trunc(series.start);
  const stepSeconds = Math.trunc(series.step);
  const timestampCount =
    stepSeconds > 0 ? Math.max(0, Math.ceil((Math.trunc(series.end) - first) / stepSeconds)) : 0;
  const datapoints = series.consolidatedValues();
  const intervalPoints = intervalSeconds / series.step;
  const pointCount = Math.min(timestampCount, datapoints.length);
  checkPointCount('summarize', Math.ceil((newEnd - newStart) / intervalSeconds));
  const values: Value[] = [];
  let i = 0;
  let bucket = newStart;
  while (bucket < newEnd) {
    let from = i;
    let nonNull = 0;
    while (i < pointCount && first + i * stepSeconds < bucket + intervalSeconds) {
      const timestamp = first + i * stepSeconds;
      if (timestamp <= bucket) from = i;
      if (timestamp >= bucket && datapoints[i] !== null) nonNull++;
      i++;
    }
    values.push(
      xff(nonNull, intervalPoints, series.xFilesFactor) ? aggFunc(datapoints.slice(from, i)) : null,
    );
    bucket += intervalSeconds;
  }
  return { values, alignedEnd: bucket };
}

function summarize(
  seriesList: TimeSeries[],
  intervalString: string,
  func: string,
  alignToFrom: boolean,
): TimeSeries[] {
  const intervalSeconds = positiveIntervalSeconds('summarize', intervalString);
  getAggFunc(func);
  return seriesList.map((series) => {
    // Buckets fall on multiples of the interval, unless aligned to the series' start.
    const newStart = alignToFrom ? series.start : series.start - pyMod(series.start, intervalSeconds);
    let newEnd = alignToFrom ? series.end : series.end - pyMod(series.end, intervalSeconds) + intervalSeconds;
    const { values, alignedEnd } = summarizeValues(series, func, intervalSeconds, newStart, newEnd);
    if (alignToFrom) newEnd = alignedEnd;
    series.tags.summarize = intervalString;
    series.tags.summarizeFunction = func;
    const name = `summarize(${series.name}, "${intervalString}", "${func}"${alignToFrom ? ', true' : ''})`;
    return series.copy({ name, start: newStart, end: newEnd, step: intervalSeconds, values });
  });
}

async function hitcount(
  env: CallEnv,
  original: TimeSeries[],
  intervalString: string,
  alignToInterval: boolean,
): Promise<TimeSeries[]> {
  const intervalSeconds = Math.trunc(positiveIntervalSeconds('hitcount', intervalString));
  let seriesList = original;
  if (alignToInterval) {
    // Start at the beginning of the day, hour or minute, fetched again from there.
    const from = env.window.from;
    const unit =
      intervalSeconds >= DAY_SECONDS
        ? DAY_SECONDS
        : intervalSeconds >= HOUR_SECONDS
          ? HOUR_SECONDS
          : intervalSeconds >= MINUTE_SECONDS
            ? MINUTE_SECONDS
            : 0;
    const alignedFrom = unit > 0 ? from - pyMod(from, unit) : from;
    seriesList = await env.evaluateAt(firstArgument(env, 'hitcount'), { ...env.window, from: alignedFrom });
    for (const series of seriesList) {
      const intervalCount = pyFloorDiv(series.end - series.start, intervalSeconds);
      series.end = series.start + intervalCount * intervalSeconds + intervalSeconds;
    }
  }
  return seriesList.map((series) => {
    const stepSeconds = Math.trunc(series.step);
    const bucketCount = Math.max(0, Math.ceil((series.end - series.start) / intervalSeconds));
    checkPointCount('hitcount', bucketCount);
    const buckets: number[][] = Array.from({ length: bucketCount }, () => []);
    const newStart = Math.trunc(series.end - bucketCount * intervalSeconds);
    series.consolidatedValues().forEach((value, index) => {
      if (value === null || bucketCount === 0) return;
      // The value is a rate per second over [startTime, endTime): spread it over the buckets it covers.
      const startTime = Math.trunc(series.start + index * stepSeconds);
      const startBucket = pyFloorDiv(startTime - newStart, intervalSeconds);
      const startMod = pyMod(startTime - newStart, intervalSeconds);
      const endTime = startTime + stepSeconds;
      let endBucket = pyFloorDiv(endTime - newStart, intervalSeconds);
      let endMod = pyMod(endTime - newStart, intervalSeconds);
      if (endBucket >= bucketCount) {
        endBucket = bucketCount - 1;
        endMod = intervalSeconds;
      }
      if (startBucket === endBucket) {
        if (startBucket >= 0) buckets[startBucket]?.push(value * (endMod - startMod));
        return;
      }
      if (startBucket >= 0) buckets[startBucket]?.push(value * (intervalSeconds - startMod));
      for (let j = Math.max(startBucket + 1, 0); j < endBucket; j++)
        buckets[j]?.push(value * intervalSeconds);
      if (endMod > 0) buckets[endBucket]?.push(value * endMod);
    });
    const values = buckets.map((hits) => (hits.length > 0 ? hits.reduce((a, b) => a + b, 0) : null));
    series.tags.hitcount = intervalString;
    const name = `hitcount(${series.name}, "${intervalString}"${alignToInterval ? ', true' : ''})`;
    return series.copy({ name, start: newStart, step: intervalSeconds, values });
  });
}

async function movingAverage(
  env: CallEnv,
  seriesList: TimeSeries[],
  windowSize: number | string,
  windowSizeIsFloat: boolean,
  xFilesFactor: number | undefined,
): Promise<TimeSeries[]> {
  if (seriesList.length === 0) return [];
  let previewSeconds: number;
  if (typeof windowSize === 'string') {
    previewSeconds = Math.abs(parseTimeOffset(windowSize));
  } else {
    if (!Number.isFinite(windowSize) || windowSize < 0) {
      throw new InputParameterError(
        `movingAverage: the window must be a non-negative number of points, got ${windowSize}`,
      );
    }
    previewSeconds =
      seriesList.reduce((widest, series) => Math.max(widest, series.step), 0) * Math.trunc(windowSize);
  }
  // The series again, from `previewSeconds` earlier, so that the first points have a full window.
  const window: RenderWindow = { ...env.window, from: env.window.from - previewSeconds };
  const previewList = await env.evaluateAt(firstArgument(env, 'movingAverage'), window);
  const windowText = typeof windowSize === 'string' ? windowSize : pyNumberStr(windowSize, windowSizeIsFloat);
  return previewList.map((series) => {
    const name =
      typeof windowSize === 'string'
        ? `movingAverage(${series.name},"${windowSize}")`
        : `movingAverage(${series.name},${windowText})`;
    const windowPoints =
      typeof windowSize === 'string' ? pyFloorDiv(previewSeconds, series.step) : Math.trunc(windowSize);
    series.tags.movingAverage = windowText;
    const effectiveXff = xFilesFactor ?? series.xFilesFactor;
    return series.copy({
      name,
      start: series.start + previewSeconds,
      values: windowAverages(series.values, windowPoints, effectiveXff),
    });
  });
}

/** For each point from `windowPoints` on, the average of the `windowPoints` values before it
 * (the point itself excluded, as in graphite), null when the window fails the xFilesFactor. */
function windowAverages(values: readonly Value[], windowPoints: number, xFilesFactor: number): Value[] {
  const out: Value[] = [];
  if (windowPoints <= 0) {
    for (let i = Math.max(windowPoints, 0); i < values.length; i++) out.push(null);
    return out;
  }
  const exact = windowPoints * Math.max(0, values.length - windowPoints) <= MOVING_AVERAGE_EXACT_WORK;
  let runningSum = 0;
  let runningCount = 0;
  for (let i = 0; i < windowPoints && i < values.length; i++) {
    const value = values[i] ?? null;
    if (value !== null) {
      runningSum += value;
      runningCount++;
    }
  }
  for (let i = windowPoints; i < values.length; i++) {
    if (exact) {
      const window = values.slice(i - windowPoints, i);
      const count = window.filter((value) => value !== null).length;
      out.push(count > 0 && xff(count, windowPoints, xFilesFactor) ? safeAvg(window) : null);
    } else {
      out.push(
        runningCount > 0 && xff(runningCount, windowPoints, xFilesFactor) ? runningSum / runningCount : null,
      );
      const entering = values[i] ?? null;
      const leaving = values[i - windowPoints] ?? null;
      if (entering !== null) {
        runningSum += entering;
        runningCount++;
      }
      if (leaving !== null) {
        runningSum -= leaving;
        runningCount--;
      }
    }
  }
  return out;
}

async function timeShift(
  env: CallEnv,
  seriesList: TimeSeries[],
  shiftText: string,
  resetEnd: boolean,
): Promise<TimeSeries[]> {
  // No sign means back in time.
  const shift = /^\d/.test(shiftText) ? `-${shiftText}` : shiftText;
  const deltaSeconds = parseTimeOffset(shift);
  if (seriesList.length === 0) return [];
  const reference = seriesList[0] as TimeSeries;
  const window: RenderWindow = {
    ...env.window,
    from: env.window.from + deltaSeconds,
    until: env.window.until + deltaSeconds,
  };
  const shifted = await env.evaluateAt(firstArgument(env, 'timeShift'), window);
  for (const series of shifted) {
    series.tags.timeShift = shift;
    series.name = `timeShift(${series.name}, "${shift}")`;
    series.end = resetEnd ? reference.end : series.end - series.start + reference.start;
    series.start = reference.start;
  }
  return shifted;
}

export const TIME_FUNCTIONS: FunctionDefinition[] = [
  {
    name: 'summarize',
    group: 'Transform',
    description:
      'Rebuckets the series into intervals, combining each bucket with func (sum by default; average, max, min, last, ' +
      'median, count...). Buckets start on multiples of the interval unless alignToFrom is true.\n\n' +
      '.. code-block:: none\n\n  &target=summarize(counter.errors, "1hour")\n  &target=summarize(queue.size, "1hour", "max")',
    signature: "summarize(seriesList, intervalString, func='sum', alignToFrom=False)",
    params: [
      SERIES_LIST,
      { name: 'intervalString', type: 'interval', required: true, suggestions: INTERVAL_SUGGESTIONS },
      { name: 'func', type: 'aggFunc', default: 'sum' },
      { name: 'alignToFrom', type: 'boolean', default: false },
    ],
    impl: (_env, args) =>
      summarize(
        seriesListArg(args, 'seriesList'),
        stringArg(args, 'intervalString'),
        stringArg(args, 'func', 'sum'),
        booleanArg(args, 'alignToFrom', false),
      ),
  },
  {
    name: 'hitcount',
    group: 'Transform',
    description:
      'Treats the values as hits per second and counts the hits in each interval, spreading each point over the ' +
      'intervals it covers. alignToInterval starts the buckets at the beginning of the day, hour or minute.\n\n' +
      '.. code-block:: none\n\n  &target=hitcount(web.requests_per_second, "1h")',
    signature: 'hitcount(seriesList, intervalString, alignToInterval=False)',
    params: [
      SERIES_LIST,
      { name: 'intervalString', type: 'interval', required: true, suggestions: INTERVAL_SUGGESTIONS },
      { name: 'alignToInterval', type: 'boolean', default: false },
    ],
    impl: (env, args) =>
      hitcount(
        env,
        seriesListArg(args, 'seriesList'),
        stringArg(args, 'intervalString'),
        booleanArg(args, 'alignToInterval', false),
      ),
  },
  {
    name: 'movingAverage',
    group: 'Calculate',
    description:
      'The average of the preceding windowSize points (a number of points, or a time like "5min"), fetched from before ' +
      'the start of the range so that the first points have a full window. xFilesFactor is the share of the window ' +
      'that must be non-null.\n\n' +
      ".. code-block:: none\n\n  &target=movingAverage(Server.instance01.threads.busy,10)\n  &target=movingAverage(Server.instance*.threads.idle,'5min')",
    signature: 'movingAverage(seriesList, windowSize, xFilesFactor=None)',
    params: [
      SERIES_LIST,
      { name: 'windowSize', type: 'intOrInterval', required: true, suggestions: WINDOW_SUGGESTIONS },
      { name: 'xFilesFactor', type: 'float' },
    ],
    impl: (env, args) => {
      const windowSize = args.get('windowSize');
      if (typeof windowSize !== 'number' && typeof windowSize !== 'string') {
        throw new InputParameterError('movingAverage: windowSize must be a number of points or an interval');
      }
      return movingAverage(
        env,
        seriesListArg(args, 'seriesList'),
        windowSize,
        args.isFloatLiteral('windowSize'),
        optionalNumberArg(args, 'xFilesFactor'),
      );
    },
  },
  {
    name: 'timeShift',
    group: 'Transform',
    description:
      'The series as it was a given time earlier ("1d" or "-1d"; "+1h" shifts forward), drawn over the current range. ' +
      'With resetEnd false the shifted range keeps its full length.\n\n' +
      '.. code-block:: none\n\n  &target=timeShift(Sales.widgets.largeBlue,"7d")',
    signature: 'timeShift(seriesList, timeShift, resetEnd=True, alignDST=False)',
    params: [
      SERIES_LIST,
      { name: 'timeShift', type: 'interval', required: true, suggestions: SHIFT_SUGGESTIONS },
      { name: 'resetEnd', type: 'boolean', default: true },
      // Daylight saving time does not exist in UTC: accepted and without effect.
      { name: 'alignDst', type: 'boolean', default: false },
    ],
    impl: (env, args) =>
      timeShift(
        env,
        seriesListArg(args, 'seriesList'),
        stringArg(args, 'timeShift'),
        booleanArg(args, 'resetEnd', true),
      ),
  },
];
