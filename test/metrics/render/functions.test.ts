// Every render function on small known series, against values worked out by hand from
// graphite-web's render/functions.py: names as graphite builds them, tags, null handling, step
// alignment (lcm normalization), and the extra windows fetched by movingAverage, timeShift and
// hitcount. The main window is (999, 1049]: with 10 s steps, values at 1000..1040, end 1050.
import { describe, expect, it } from 'vitest';
import { evaluateTarget } from '../../../agent/metrics/render/evaluate.js';
import type { TimeSeries } from '../../../agent/metrics/render/series.js';
import { FakeStore, pointsFrom } from './fake-store.js';

const FROM = 999;
const UNTIL = 1049;

function makeStore(): FakeStore {
  return new FakeStore(
    {
      // 980 and 990 lie before the window: only a preview (movingAverage, timeShift) sees them.
      'servers.a.requests': { step: 10, points: pointsFrom(980, 10, [7, 9, 1, 2, null, 4, 5]) },
      'servers.b.requests': { step: 10, points: pointsFrom(1000, 10, [10, null, 30, 40, 50]) },
      'totals.a.requests': { step: 10, points: pointsFrom(1000, 10, [2, 4, 6, 8, 10]) },
      'totals.c.requests': { step: 10, points: pointsFrom(1000, 10, [1, 1, 1, 1, 1]) },
      'app.counter': { step: 10, points: pointsFrom(1000, 10, [10, 15, null, 30, 28]) },
      'neg.values': { step: 10, points: pointsFrom(1000, 10, [-1, 2, null, -4.5, 0]) },
      'gaps.x': { step: 10, points: pointsFrom(1000, 10, [1, null, null, 4, null]) },
      'empty.x': { step: 10, points: {} },
      'zero.x': { step: 10, points: pointsFrom(1000, 10, [0, 1, 0, 2, 0]) },
      'long.x': { step: 10, points: pointsFrom(1000, 10, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]) },
      'fine.x': { step: 10, points: pointsFrom(1000, 10, [1, 2, 3, 4]) },
      'coarse.x': { step: 20, points: pointsFrom(1000, 20, [10, 20]) },
      'slow.counter': { step: 30, points: pointsFrom(1020, 30, [0, 1]) },
      'cpu.load;dc=par;host=h1': { step: 10, points: pointsFrom(1000, 10, [1, 1, 1, 1, 1]) },
      'cpu.load;dc=lon;host=h2': { step: 10, points: pointsFrom(1000, 10, [2, 2, 2, 2, 2]) },
    },
    { "seriesByTag('name=cpu.load')": ['cpu.load;dc=lon;host=h2', 'cpu.load;dc=par;host=h1'] },
  );
}

async function run(target: string, window: { from?: number; until?: number } = {}): Promise<TimeSeries[]> {
  const store = makeStore();
  return evaluateTarget(target, {
    from: window.from ?? FROM,
    until: window.until ?? UNTIL,
    now: 2000,
    fetch: store.fetch,
  });
}

async function runWithStore(target: string, store: FakeStore): Promise<TimeSeries[]> {
  return evaluateTarget(target, { from: FROM, until: UNTIL, now: 2000, fetch: store.fetch });
}

/** name → values, in order. */
async function valuesOf(target: string): Promise<Array<[string, (number | null)[]]>> {
  return (await run(target)).map((series) => [series.name, series.consolidatedValues()]);
}

describe('fetching', () => {
  it('hands path expressions to fetch and keeps them as pathExpression, sorted by name', async () => {
    const series = await run('servers.*.requests');
    expect(series.map((s) => [s.name, s.pathExpression, s.start, s.end, s.step])).toEqual([
      ['servers.a.requests', 'servers.*.requests', 1000, 1050, 10],
      ['servers.b.requests', 'servers.*.requests', 1000, 1050, 10],
    ]);
    expect(series[0]?.values).toEqual([1, 2, null, 4, 5]);
    expect(series[0]?.tags).toEqual({ name: 'servers.a.requests' });
  });

  it('hands a seriesByTag call to fetch as its text, and parses tags from tagged names', async () => {
    const store = makeStore();
    const series = await runWithStore("seriesByTag('name=cpu.load')", store);
    expect(store.calls.map((call) => call.pathExpression)).toEqual(["seriesByTag('name=cpu.load')"]);
    expect(series.map((s) => s.tags)).toEqual([
      { name: 'cpu.load', dc: 'lon', host: 'h2' },
      { name: 'cpu.load', dc: 'par', host: 'h1' },
    ]);
  });

  it('yields nothing for an empty target and for a path matching nothing', async () => {
    expect(await run('   ')).toEqual([]);
    expect(await run('no.such.metric')).toEqual([]);
  });
});

describe('combining', () => {
  it('sumSeries adds point by point, skipping nulls, named after the path expression', async () => {
    const [sum, ...rest] = await run('sumSeries(servers.{a,b}.requests)');
    expect(rest).toEqual([]);
    expect(sum?.name).toBe('sumSeries(servers.{a,b}.requests)');
    expect(sum?.values).toEqual([11, 2, 30, 44, 55]);
    expect([sum?.start, sum?.end, sum?.step]).toEqual([1000, 1050, 10]);
    expect(sum?.tags).toEqual({ name: 'sumSeries(servers.{a,b}.requests)', aggregatedBy: 'sum' });
  });

  it('sum is sumSeries; several arguments join their path expressions', async () => {
    expect(await valuesOf('sum(servers.a.requests, servers.b.requests)')).toEqual([
      ['sumSeries(servers.a.requests,servers.b.requests)', [11, 2, 30, 44, 55]],
    ]);
  });

  it('averageSeries, maxSeries, minSeries, avg', async () => {
    expect(await valuesOf('averageSeries(servers.*.requests)')).toEqual([
      ['averageSeries(servers.*.requests)', [5.5, 2, 30, 22, 27.5]],
    ]);
    expect(await valuesOf('avg(servers.*.requests)')).toEqual([
      ['averageSeries(servers.*.requests)', [5.5, 2, 30, 22, 27.5]],
    ]);
    expect(await valuesOf('maxSeries(servers.*.requests)')).toEqual([
      ['maxSeries(servers.*.requests)', [10, 2, 30, 40, 50]],
    ]);
    expect(await valuesOf('minSeries(servers.*.requests)')).toEqual([
      ['minSeries(servers.*.requests)', [1, 2, 30, 4, 5]],
    ]);
  });

  it('diffSeries subtracts from the first non-null value of each row', async () => {
    expect(await valuesOf('diffSeries(servers.a.requests,servers.b.requests)')).toEqual([
      ['diffSeries(servers.a.requests,servers.b.requests)', [-9, 2, 30, -36, -45]],
    ]);
  });

  it('aggregating keeps the tags all inputs share', async () => {
    const [sum] = await run("sumSeries(seriesByTag('name=cpu.load'))");
    expect(sum?.values).toEqual([3, 3, 3, 3, 3]);
    expect(sum?.tags).toEqual({ name: 'cpu.load', aggregatedBy: 'sum' });
  });

  it('normalizes steps to their lcm, consolidating the finer series by its function', async () => {
    // fine.x: 1,2,3,4 every 10 s → 1.5,3.5 every 20 s; coarse.x: 10,20.
    const [sum] = await run('sumSeries(fine.x, coarse.x)', { until: 1039 });
    expect([sum?.step, sum?.start, sum?.end]).toEqual([20, 1000, 1040]);
    expect(sum?.values).toEqual([11.5, 23.5]);
    expect(sum?.datapoints()).toEqual([
      [11.5, 1000],
      [23.5, 1020],
    ]);
  });

  it('yields nothing when there is nothing to aggregate', async () => {
    expect(await run('sumSeries(no.such.*)')).toEqual([]);
  });

  it('divideSeries divides by the single divisor; null and zero divisors give null', async () => {
    const [quotient] = await run('divideSeries(servers.a.requests,servers.b.requests)');
    expect(quotient?.name).toBe('divideSeries(servers.a.requests,servers.b.requests)');
    expect(quotient?.values).toEqual([0.1, null, null, 0.1, 0.1]);
    expect(quotient?.tags).toEqual({ name: 'divideSeries(servers.a.requests,servers.b.requests)' });
    expect((await run('divideSeries(servers.b.requests,zero.x)'))[0]?.values).toEqual([
      null,
      null,
      null,
      20,
      null,
    ]);
  });

  it('divideSeries by nothing is all null, named MISSING; by several is refused', async () => {
    expect(await valuesOf('divideSeries(servers.a.requests,no.such)')).toEqual([
      ['divideSeries(servers.a.requests,MISSING)', [null, null, null, null, null]],
    ]);
    await expect(run('divideSeries(servers.a.requests,servers.*.requests)')).rejects.toThrow(
      'divideSeries second argument must reference exactly 1 series (got 2)',
    );
  });

  it('asPercent of the list total', async () => {
    expect(await valuesOf('asPercent(servers.{a,b}.requests)')).toEqual([
      [
        'asPercent(servers.a.requests,sumSeries(servers.{a,b}.requests))',
        [(1 / 11) * 100, 100, null, (4 / 44) * 100, (5 / 55) * 100],
      ],
      [
        'asPercent(servers.b.requests,sumSeries(servers.{a,b}.requests))',
        [(10 / 11) * 100, null, 100, (40 / 44) * 100, (50 / 55) * 100],
      ],
    ]);
  });

  it('asPercent of a number keeps how the number was written', async () => {
    expect(await valuesOf('asPercent(servers.a.requests,50)')).toEqual([
      ['asPercent(servers.a.requests,50)', [2, 4, null, 8, 10]],
    ]);
    expect((await run('asPercent(servers.a.requests,50.0)'))[0]?.name).toBe(
      'asPercent(servers.a.requests,50.0)',
    );
  });

  it('asPercent of one total series, or of as many (matched by sorted name)', async () => {
    expect(await valuesOf('asPercent(servers.*.requests,servers.b.requests)')).toEqual([
      ['asPercent(servers.a.requests,servers.b.requests)', [10, null, null, 10, 10]],
      ['asPercent(servers.b.requests,servers.b.requests)', [100, null, 100, 100, 100]],
    ]);
    expect(await valuesOf('asPercent(servers.*.requests,totals.*.requests)')).toEqual([
      ['asPercent(servers.a.requests,totals.a.requests)', [50, 50, null, 50, 50]],
      ['asPercent(servers.b.requests,totals.c.requests)', [1000, null, 3000, 4000, 5000]],
    ]);
    await expect(run('asPercent(servers.*.requests,group(totals.*.requests,gaps.x))')).rejects.toThrow(
      'asPercent second argument must be missing',
    );
  });

  it('asPercent matched on nodes, with MISSING on either side', async () => {
    expect(await valuesOf('asPercent(servers.*.requests,totals.*.requests,1)')).toEqual([
      ['asPercent(servers.a.requests,totals.a.requests)', [50, 50, null, 50, 50]],
      ['asPercent(servers.b.requests,MISSING)', [null, null, null, null, null]],
      ['asPercent(MISSING,totals.c.requests)', [null, null, null, null, null]],
    ]);
    expect(await valuesOf('asPercent(servers.*.requests,None,1)')).toEqual([
      ['asPercent(servers.a.requests,servers.a.requests)', [100, 100, null, 100, 100]],
      ['asPercent(servers.b.requests,servers.b.requests)', [100, null, 100, 100, 100]],
    ]);
  });

  it('groupByNode combines per node and names each group after it', async () => {
    expect(await valuesOf("groupByNode(servers.*.requests,2,'sum')")).toEqual([
      ['requests', [11, 2, 30, 44, 55]],
    ]);
    expect(await valuesOf('groupByNode(servers.*.requests,1)')).toEqual([
      ['a', [1, 2, null, 4, 5]],
      ['b', [10, null, 30, 40, 50]],
    ]);
    expect(await valuesOf("groupByNode(servers.*.requests,2,'sumSeries')")).toEqual([
      ['requests', [11, 2, 30, 44, 55]],
    ]);
    const [group] = await run("groupByNode(servers.*.requests,2,'sum')");
    expect(group?.tags).toEqual({ name: 'sumSeries(servers.*.requests)', aggregatedBy: 'sum' });
  });

  it('groupByNode reads the nodes of the first path inside a function-style name, or a tag', async () => {
    expect(await valuesOf("groupByNode(scale(servers.*.requests,2),1,'max')")).toEqual([
      ['a', [2, 4, null, 8, 10]],
      ['b', [20, null, 60, 80, 100]],
    ]);
    expect(await valuesOf("groupByNode(seriesByTag('name=cpu.load'),'dc','sum')")).toEqual([
      ['lon', [2, 2, 2, 2, 2]],
      ['par', [1, 1, 1, 1, 1]],
    ]);
    await expect(run("groupByNode(servers.*.requests,1,'nope')")).rejects.toThrow('Invalid option');
  });

  it('aggregate and group', async () => {
    expect(await valuesOf("aggregate(servers.*.requests,'median')")).toEqual([
      ['medianSeries(servers.*.requests)', [5.5, 2, 30, 22, 27.5]],
    ]);
    expect((await run('group(servers.a.requests,gaps.x)')).map((s) => s.name)).toEqual([
      'servers.a.requests',
      'gaps.x',
    ]);
  });
});

describe('transforming', () => {
  it('scale multiplies, names with %g and tags the float', async () => {
    const [scaled] = await run('scale(servers.a.requests,2)');
    expect(scaled?.name).toBe('scale(servers.a.requests,2)');
    expect(scaled?.pathExpression).toBe('scale(servers.a.requests,2)');
    expect(scaled?.values).toEqual([2, 4, null, 8, 10]);
    expect(scaled?.tags).toEqual({ name: 'servers.a.requests', scale: '2.0' });
    expect((await run('scale(servers.a.requests,0.5)'))[0]?.name).toBe('scale(servers.a.requests,0.5)');
    expect((await run('scale(servers.a.requests,1000000)'))[0]?.name).toBe('scale(servers.a.requests,1e+06)');
  });

  it('offset adds to non-null values', async () => {
    const [shifted] = await run('offset(servers.a.requests,-1)');
    expect([shifted?.name, shifted?.values, shifted?.tags.offset]).toEqual([
      'offset(servers.a.requests,-1)',
      [0, 1, null, 3, 4],
      '-1.0',
    ]);
  });

  it('absolute', async () => {
    expect(await valuesOf('absolute(neg.values)')).toEqual([['absolute(neg.values)', [1, 2, null, 4.5, 0]]]);
  });

  it('derivative: null next to a null', async () => {
    const [derived] = await run('derivative(app.counter)');
    expect([derived?.name, derived?.values, derived?.tags]).toEqual([
      'derivative(app.counter)',
      [null, 5, null, null, -2],
      { name: 'app.counter', derivative: '1' },
    ]);
  });

  it('nonNegativeDerivative: a decrease is null, or a wrap at maxValue, or to minValue', async () => {
    expect(await valuesOf('nonNegativeDerivative(app.counter)')).toEqual([
      ['nonNegativeDerivative(app.counter)', [null, 5, null, null, null]],
    ]);
    // 28 after 30 with maxValue 31: 31 + 1 + 28 - 30.
    expect((await run('nonNegativeDerivative(app.counter,31)'))[0]?.values).toEqual([
      null,
      5,
      null,
      null,
      30,
    ]);
    // Below minValue 20 is dropped; 28 after 30 wraps to 20: 28 - 20.
    expect((await run('nonNegativeDerivative(app.counter,minValue=20)'))[0]?.values).toEqual([
      null,
      null,
      null,
      null,
      8,
    ]);
  });

  it('perSecond divides the non-negative delta by the step, rounded to 6 places', async () => {
    expect(await valuesOf('perSecond(app.counter)')).toEqual([
      ['perSecond(app.counter)', [null, 0.5, null, null, null]],
    ]);
    // 1 per 30 s: 0.0333… rounded.
    const [slow] = await run('perSecond(slow.counter)', { from: 1019, until: 1079 });
    expect(slow?.values).toEqual([null, 0.033333]);
  });

  it('integral: a running total, nulls stay null', async () => {
    expect(await valuesOf('integral(servers.a.requests)')).toEqual([
      ['integral(servers.a.requests)', [1, 3, null, 7, 12]],
    ]);
  });

  it('keepLastValue fills gaps up to the limit, never leading nulls', async () => {
    expect(await valuesOf('keepLastValue(gaps.x)')).toEqual([['keepLastValue(gaps.x)', [1, 1, 1, 4, 4]]]);
    expect(await valuesOf('keepLastValue(gaps.x,1)')).toEqual([
      ['keepLastValue(gaps.x)', [1, null, null, 4, 4]],
    ]);
    expect((await run('keepLastValue(servers.b.requests)'))[0]?.values).toEqual([10, 10, 30, 40, 50]);
  });

  it('transformNull replaces nulls, everywhere or where a reference series has a value', async () => {
    const [zeroed] = await run('transformNull(servers.a.requests)');
    expect([zeroed?.name, zeroed?.values, zeroed?.tags.transformNull]).toEqual([
      'transformNull(servers.a.requests,0)',
      [1, 2, 0, 4, 5],
      '0',
    ]);
    const [minusOne] = await run('transformNull(servers.a.requests,-1)');
    expect([minusOne?.name, minusOne?.values, minusOne?.tags.transformNull]).toEqual([
      'transformNull(servers.a.requests,-1)',
      [1, 2, -1, 4, 5],
      '-1.0',
    ]);
    // servers.b.requests has no value at 1010: the gap there stays.
    expect(await valuesOf('transformNull(gaps.x,0,servers.b.requests)')).toEqual([
      ['transformNull(gaps.x,0,referenceSeries)', [1, null, 0, 4, 0]],
    ]);
  });

  it('consolidateBy sets the consolidation function, names and tags it', async () => {
    const [series] = await run("consolidateBy(servers.a.requests,'max')");
    expect([series?.name, series?.consolidationFunc, series?.tags.consolidateBy]).toEqual([
      'consolidateBy(servers.a.requests,"max")',
      'max',
      'max',
    ]);
    await expect(run("consolidateBy(servers.a.requests,'median')")).rejects.toThrow(
      'Invalid option specified for function "consolidateBy" parameter "consolidationFunc"',
    );
  });

  it('constantLine: three points across the window, named after the value as a float', async () => {
    const [line] = await run('constantLine(100)', { from: 1000, until: 1600 });
    expect([line?.name, line?.pathExpression, line?.start, line?.end, line?.step, line?.values]).toEqual([
      '100.0',
      'constantLine(100.0)',
      1000,
      1600,
      300,
      [100, 100, 100],
    ]);
    expect(line?.datapoints()).toEqual([
      [100, 1000],
      [100, 1300],
      [100, 1600],
    ]);
    expect((await run('constantLine(1.5)'))[0]?.name).toBe('1.5');
  });
});

describe('working across time', () => {
  it('summarize sums into interval buckets aligned on the interval', async () => {
    const [summary] = await run('summarize(long.x,"30s")', { until: 1119 });
    expect([summary?.name, summary?.start, summary?.end, summary?.step, summary?.values]).toEqual([
      'summarize(long.x, "30s", "sum")',
      990,
      1140,
      30,
      [3, 12, 21, 30, 12],
    ]);
    expect(summary?.tags).toEqual({ name: 'long.x', summarize: '30s', summarizeFunction: 'sum' });
  });

  it('summarize with other functions, aligned to from, and over nulls', async () => {
    expect((await run('summarize(long.x,"30s","avg")', { until: 1119 }))[0]?.values).toEqual([
      1.5, 4, 7, 10, 12,
    ]);
    expect((await run('summarize(long.x,"30s","max")', { until: 1119 }))[0]?.values).toEqual([
      2, 5, 8, 11, 12,
    ]);
    const [aligned] = await run('summarize(long.x,"30s","sum",true)', { until: 1119 });
    expect([aligned?.name, aligned?.start, aligned?.end, aligned?.values]).toEqual([
      'summarize(long.x, "30s", "sum", true)',
      1000,
      1120,
      [6, 15, 24, 33],
    ]);
    const [gaps] = await run('summarize(gaps.x,"20s")');
    expect([gaps?.start, gaps?.end, gaps?.values]).toEqual([1000, 1060, [1, 4, null]]);
    await expect(run('summarize(gaps.x,"-20s")')).rejects.toThrow('the interval must be positive');
  });

  it('hitcount spreads per-second rates over the buckets they cover', async () => {
    const [hits] = await run('hitcount(servers.a.requests,"20s")');
    expect([hits?.name, hits?.start, hits?.end, hits?.step, hits?.values]).toEqual([
      'hitcount(servers.a.requests, "20s")',
      990,
      1050,
      20,
      [10, 20, 90],
    ]);
  });

  it('hitcount aligned to the interval fetches again from the start of the minute', async () => {
    const store = makeStore();
    const [hits] = await runWithStore('hitcount(servers.a.requests,"1min",true)', store);
    expect(store.calls).toContainEqual({ pathExpression: 'servers.a.requests', from: 960, until: UNTIL });
    // Fetched from 970: 7@980 and 9@990 fall in the first bucket with 1@1000 and 2@1010.
    expect([hits?.name, hits?.start, hits?.end, hits?.step, hits?.values]).toEqual([
      'hitcount(servers.a.requests, "1min", true)',
      970,
      1090,
      60,
      [190, 90],
    ]);
  });

  it('movingAverage over a number of points fetches the preview before from', async () => {
    const store = makeStore();
    const [average] = await runWithStore('movingAverage(servers.a.requests,2)', store);
    expect(store.calls).toContainEqual({
      pathExpression: 'servers.a.requests',
      from: FROM - 20,
      until: UNTIL,
    });
    // Each point averages the two before it (7@980, 9@990 come from the preview).
    expect([average?.name, average?.start, average?.end, average?.values]).toEqual([
      'movingAverage(servers.a.requests,2)',
      1000,
      1050,
      [8, 5, 1.5, 2, 4],
    ]);
    expect(average?.tags.movingAverage).toBe('2');
  });

  it('movingAverage over a time window, and with an xFilesFactor', async () => {
    const [byTime] = await run("movingAverage(servers.a.requests,'20s')");
    expect([byTime?.name, byTime?.values, byTime?.tags.movingAverage]).toEqual([
      'movingAverage(servers.a.requests,"20s")',
      [8, 5, 1.5, 2, 4],
      '20s',
    ]);
    expect((await run('movingAverage(servers.a.requests,2,1)'))[0]?.values).toEqual([8, 5, 1.5, null, null]);
  });

  it('timeShift fetches the shifted window and draws it over the current one', async () => {
    const store = makeStore();
    const [shifted] = await runWithStore("timeShift(servers.a.requests,'10s')", store);
    expect(store.calls).toContainEqual({
      pathExpression: 'servers.a.requests',
      from: FROM - 10,
      until: UNTIL - 10,
    });
    expect([shifted?.name, shifted?.start, shifted?.end, shifted?.tags.timeShift]).toEqual([
      'timeShift(servers.a.requests, "-10s")',
      1000,
      1050,
      '-10s',
    ]);
    expect(shifted?.datapoints()).toEqual([
      [9, 1000],
      [1, 1010],
      [2, 1020],
      [null, 1030],
      [4, 1040],
    ]);
    const [forward] = await run("timeShift(servers.a.requests,'+10s')");
    expect([forward?.name, forward?.values]).toEqual([
      'timeShift(servers.a.requests, "+10s")',
      [2, null, 4, 5, null],
    ]);
  });
});

describe('filtering, sorting, naming', () => {
  const names = async (target: string): Promise<string[]> => (await run(target)).map((series) => series.name);

  it('highestCurrent, highestAverage, lowestCurrent', async () => {
    expect(await names('highestCurrent(servers.*.requests,1)')).toEqual(['servers.b.requests']);
    expect(await names('highestCurrent(servers.*.requests,2)')).toEqual([
      'servers.b.requests',
      'servers.a.requests',
    ]);
    expect(await names('highestAverage(group(servers.a.requests,totals.a.requests),1)')).toEqual([
      'totals.a.requests',
    ]);
    // A series without values sorts lowest.
    expect(await names('lowestCurrent(group(servers.*.requests,empty.x),2)')).toEqual([
      'empty.x',
      'servers.a.requests',
    ]);
  });

  it('sortByMaxima: highest maximum first, ties in their original order', async () => {
    expect(
      await names('sortByMaxima(group(servers.a.requests,servers.b.requests,totals.a.requests))'),
    ).toEqual(['servers.b.requests', 'totals.a.requests', 'servers.a.requests']);
    // totals.c.requests and the par series both peak at 1: they keep their order.
    expect(await names("sortByMaxima(group(totals.c.requests,gaps.x,seriesByTag('name=cpu.load')))")).toEqual(
      ['gaps.x', 'cpu.load;dc=lon;host=h2', 'totals.c.requests', 'cpu.load;dc=par;host=h1'],
    );
  });

  it('limit, exclude, grep', async () => {
    expect(await names('limit(servers.*.requests,1)')).toEqual(['servers.a.requests']);
    expect(await names("exclude(servers.*.requests,'a\\.req')")).toEqual(['servers.b.requests']);
    expect(await names("grep(servers.*.requests,'^servers\\.b')")).toEqual(['servers.b.requests']);
    await expect(run('limit(servers.*.requests,1.5)')).rejects.toThrow('Invalid "integer" value');
  });

  it('removeBelowValue and removeAboveValue', async () => {
    expect(await valuesOf('removeBelowValue(servers.a.requests,2)')).toEqual([
      ['removeBelowValue(servers.a.requests, 2)', [null, 2, null, 4, 5]],
    ]);
    expect(await valuesOf('removeAboveValue(servers.a.requests,2)')).toEqual([
      ['removeAboveValue(servers.a.requests, 2)', [1, 2, null, null, null]],
    ]);
  });

  it('alias, aliasByNode, aliasSub', async () => {
    expect(await names("alias(servers.a.requests,'Requests')")).toEqual(['Requests']);
    expect(await names('aliasByNode(servers.*.requests,1)')).toEqual(['a', 'b']);
    expect(await names('aliasByNode(servers.*.requests,0,-1)')).toEqual([
      'servers.requests',
      'servers.requests',
    ]);
    expect(await names('aliasByNode(scale(servers.a.requests,2),1)')).toEqual(['a']);
    expect(await names("aliasByNode(seriesByTag('name=cpu.load'),'dc',1)")).toEqual(['lon.load', 'par.load']);
    expect(await names("aliasSub(servers.*.requests,'^servers\\.(\\w+)\\.requests$','\\1 rq')")).toEqual([
      'a rq',
      'b rq',
    ]);
    expect(await names("aliasSub(servers.a.requests,'(?P<host>[ab])\\.','\\g<host>-')")).toEqual([
      'servers.a-requests',
    ]);
  });

  it('refuses regular expressions that could backtrack for ages', async () => {
    await expect(run("grep(servers.*.requests,'(a+)+$')")).rejects.toThrow('refused');
  });
});

describe('pipes, kwargs and errors', () => {
  it('a pipe is the same call with the piped series first', async () => {
    expect(await valuesOf("servers.a.requests|scale(2)|alias('x')")).toEqual([['x', [2, 4, null, 8, 10]]]);
    expect(await valuesOf('sumSeries(servers.*.requests|scale(factor=2))')).toEqual([
      ['sumSeries(scale(servers.a.requests,2),scale(servers.b.requests,2))', [22, 4, 60, 88, 110]],
    ]);
  });

  it('names unknown functions and bad arguments', async () => {
    await expect(run('nope(servers.a.requests)')).rejects.toThrow(
      'Received request for unknown function: nope',
    );
    await expect(run('scale(servers.a.requests)')).rejects.toThrow(
      'Missing required parameter "factor" for function "scale"',
    );
    await expect(run('scale(servers.a.requests,2,3)')).rejects.toThrow(
      'Too many parameters specified for function "scale"',
    );
    await expect(run('scale(servers.a.requests,2,bogus=1)')).rejects.toThrow('Too many parameters');
    await expect(run('perSecond(servers.a.requests,bogus=1)')).rejects.toThrow(
      'Unexpected key word arguments: bogus',
    );
    await expect(run("scale(servers.a.requests,'x')")).rejects.toThrow('Invalid "float" value');
    await expect(run('divideSeries(servers.a.requests,2)')).rejects.toThrow('Invalid "seriesList" value');
  });

  it('bounds the work of nested re-evaluations', async () => {
    const nested = 'movingAverage('.repeat(16) + 'servers.a.requests' + ',1)'.repeat(16);
    await expect(run(nested)).rejects.toThrow('function calls');
  });
});
