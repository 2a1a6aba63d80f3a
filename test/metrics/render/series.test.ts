// TimeSeries as graphite-web's datalib has it (tags parsed from names, lazy consolidation with the
// xFilesFactor, datapoints), maxDataPoints consolidation as views.py does it for JSON, the JSON
// body, and the Python number formatting series names depend on.
import { describe, expect, it } from 'vitest';
import { pyFloatStr, pyFormatG, pyRound } from '../../../agent/metrics/render/py.js';
import { renderJson, renderJsonText } from '../../../agent/metrics/render/render-json.js';
import { TimeSeries } from '../../../agent/metrics/render/series.js';
import { parseSeriesTags } from '../../../agent/metrics/render/tags.js';

/** 1..count every 10 s from `start`, ending one step past the last value. */
function counting(start: number, count: number, name = 'a.b'): TimeSeries {
  const values = Array.from({ length: count }, (_, i) => i + 1);
  return new TimeSeries(name, start, start + count * 10, 10, values);
}

describe('tags', () => {
  it.each([
    ['a.b', { name: 'a.b' }],
    ['a.b;k=v', { name: 'a.b', k: 'v' }],
    ['a.b;k=v;x=1=2', { name: 'a.b', k: 'v', x: '1=2' }],
    ['a.b;name=other', { name: 'a.b' }],
    ['a.b{k="v",x="y \\"q\\""}', { name: 'a.b', k: 'v', x: 'y "q"' }],
    ['a.b;novalue', { name: 'a.b;novalue' }],
    [';k=v', { name: ';k=v' }],
    ['sumSeries(a.b;k=v)', { name: 'sumSeries(a.b;k=v)' }],
  ])('%s', (name, tags) => {
    expect(parseSeriesTags(name)).toEqual(tags);
    expect(new TimeSeries(name, 0, 10, 10, [1]).tags).toEqual(tags);
  });

  it('given tags are kept as given', () => {
    expect(new TimeSeries('a.b;k=v', 0, 10, 10, [1], { tags: { name: 'x' } }).tags).toEqual({ name: 'x' });
  });
});

describe('TimeSeries', () => {
  it('defaults: average consolidation, xFilesFactor 0, path expression = name', () => {
    const series = counting(1000, 3);
    expect([
      series.consolidationFunc,
      series.xFilesFactor,
      series.pathExpression,
      series.valuesPerPoint,
    ]).toEqual(['average', 0, 'a.b', 1]);
  });

  it('datapoints pair values with timestamps from start, as long as both last', () => {
    expect(counting(1000, 3).datapoints()).toEqual([
      [1, 1000],
      [2, 1010],
      [3, 1020],
    ]);
    // An end short of the values cuts the datapoints (graphite zips the two).
    expect(new TimeSeries('x', 1000, 1010, 10, [1, 2, 3]).datapoints()).toEqual([
      [1, 1000],
      [2, 1010],
    ]);
  });

  it('consolidates lazily by its function, the last bucket possibly short', () => {
    const series = new TimeSeries('x', 1000, 1050, 10, [1, 2, null, 4, 5]);
    series.setValuesPerPoint(2);
    expect(series.consolidatedValues()).toEqual([1.5, 4, 5]);
    expect(series.values).toEqual([1, 2, null, 4, 5]);
    const expected: Record<string, (number | null)[]> = {
      sum: [3, 4, 5],
      min: [1, 4, 5],
      max: [2, 4, 5],
      first: [1, 4, 5],
      last: [2, 4, 5],
      avg_zero: [1.5, 2, 5],
    };
    for (const [func, values] of Object.entries(expected)) {
      series.consolidationFunc = func as TimeSeries['consolidationFunc'];
      expect(series.consolidatedValues()).toEqual(values);
    }
    expect(series.datapoints().map(([, timestamp]) => timestamp)).toEqual([1000, 1020, 1040]);
  });

  it('a consolidated bucket is null below the xFilesFactor (counted against a full bucket)', () => {
    const series = new TimeSeries('x', 0, 50, 10, [1, null, null, null, 5]);
    series.setValuesPerPoint(2);
    series.xFilesFactor = 0.5;
    expect(series.consolidatedValues()).toEqual([1, null, 5]);
    series.xFilesFactor = 0.6;
    expect(series.consolidatedValues()).toEqual([null, null, null]);
  });

  it('consolidate(maxDataPoints) nudges the start onto bucket boundaries as views.py does', () => {
    // 10 points into 5: 2 per point; the start moves 20 s on, one value is dropped.
    const aligned = counting(1000, 10);
    aligned.consolidate(5);
    expect(aligned.start).toBe(1020);
    expect(aligned.datapoints()).toEqual([
      [2.5, 1020],
      [4.5, 1040],
      [6.5, 1060],
      [8.5, 1080],
      [10, 1100],
    ]);
    // Starting off a boundary: moved 10 s on, nothing dropped.
    const offset = counting(1010, 10);
    offset.consolidate(5);
    expect(offset.datapoints()).toEqual([
      [1.5, 1020],
      [3.5, 1040],
      [5.5, 1060],
      [7.5, 1080],
      [9.5, 1100],
    ]);
  });

  it('consolidate leaves short series alone, and squeezes to one point for maxDataPoints=1', () => {
    const short = counting(1000, 10);
    short.consolidate(10);
    expect(short.datapoints()).toHaveLength(10);
    const one = counting(1000, 10);
    one.consolidate(1);
    expect(one.datapoints()).toEqual([[5.5, 1000]]);
    expect(() => counting(1000, 2).consolidate(0)).toThrow('maxDataPoints');
  });

  it('copy makes the new name the path expression; clone keeps everything', () => {
    const series = counting(1000, 3);
    series.pathExpression = 'a.*';
    const copy = series.copy({ name: 'f(a.b)', values: [9] });
    expect([copy.name, copy.pathExpression, copy.values, copy.start, copy.step]).toEqual([
      'f(a.b)',
      'f(a.b)',
      [9],
      1000,
      10,
    ]);
    const clone = series.clone();
    clone.values[0] = 42;
    expect([clone.pathExpression, series.values[0]]).toEqual(['a.*', 1]);
  });
});

describe('renderJson', () => {
  it('writes target, [value, timestamp] datapoints and tags; non-finite values are null', () => {
    const series = new TimeSeries('a.b;k=v', 1000, 1040, 10, [1, NaN, Infinity, -Infinity]);
    expect(renderJson([series])).toEqual([
      {
        target: 'a.b;k=v',
        datapoints: [
          [1, 1000],
          [null, 1010],
          [null, 1020],
          [null, 1030],
        ],
        tags: { name: 'a.b', k: 'v' },
      },
    ]);
  });

  it('consolidates by each series function over the widest range of the response', () => {
    const long = counting(1000, 10, 'long');
    long.consolidationFunc = 'sum';
    const short = new TimeSeries('short', 1000, 1020, 10, [7, 8]);
    const rendered = renderJson([long, short], 5);
    expect(rendered.map((one) => [one.target, one.datapoints])).toEqual([
      [
        'long',
        [
          [5, 1020],
          [9, 1040],
          [13, 1060],
          [17, 1080],
          [10, 1100],
        ],
      ],
      // 100 s of range at 10 s is 10 points: the short one is consolidated 2 to 1 as well.
      ['short', [[8, 1020]]],
    ]);
    // The inputs are left as they were.
    expect([long.start, long.values.length, long.valuesPerPoint]).toEqual([1000, 10, 1]);
  });

  it('answers [] when no series has values; noNullPoints drops nulls and emptied series', () => {
    expect(renderJson([new TimeSeries('x', 0, 10, 10, [])])).toEqual([]);
    const gappy = new TimeSeries('gappy', 1000, 1030, 10, [null, 2, null]);
    const empty = new TimeSeries('nulls', 1000, 1030, 10, [null, null, null]);
    expect(renderJson([gappy, empty], undefined, { noNullPoints: true })).toEqual([
      { target: 'gappy', datapoints: [[2, 1010]], tags: { name: 'gappy' } },
    ]);
    expect(() => renderJson([gappy], 0)).toThrow('maxDataPoints');
  });
});

describe('renderJsonText', () => {
  // The render route writes its body with renderJsonText; it must be renderJson's body, to the byte.
  it('is JSON.stringify(renderJson(...)) on random series, with or without maxDataPoints and noNullPoints', () => {
    let seed = 3;
    const next = (): number => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    const samples = [null, 0, -0, 1, -2.5, 1e21, 1e-7, 0.1 + 0.2, NaN, Infinity, -Infinity, 123456.789];
    const names = ['a.b', 'a.b;k=v;dc="eu"', 'weird \\ "quoted"\n', 'caf\u00e9'];
    for (let run = 0; run < 300; run++) {
      const series = Array.from({ length: 1 + Math.floor(next() * 4) }, (_, i) => {
        const step = [1, 10, 60][Math.floor(next() * 3)]!;
        const length = Math.floor(next() * 40);
        const start = 1_000_000 + Math.floor(next() * 100) * step;
        const values = Array.from({ length }, () => samples[Math.floor(next() * samples.length)]!);
        const one = new TimeSeries(names[i % names.length]!, start, start + length * step, step, values);
        one.consolidationFunc = (['average', 'sum', 'max', 'last'] as const)[Math.floor(next() * 4)]!;
        return one;
      });
      const maxDataPoints = next() < 0.5 ? undefined : 1 + Math.floor(next() * 12);
      const options = { noNullPoints: next() < 0.3 };
      expect(renderJsonText(series, maxDataPoints, options)).toBe(
        JSON.stringify(renderJson(series, maxDataPoints, options)),
      );
    }
  });
});

describe('Python number formatting', () => {
  it.each([
    [100, '100.0'],
    [1.5, '1.5'],
    [-0.25, '-0.25'],
    [1e16, '1e+16'],
    [123456789012345, '123456789012345.0'],
    [0.0001, '0.0001'],
    [0.00001, '1e-05'],
    [1 / 3, '0.3333333333333333'],
    [Infinity, 'inf'],
  ])('pyFloatStr(%d) is %s', (value, text) => {
    expect(pyFloatStr(value)).toBe(text);
  });

  it.each([
    [2, '2'],
    [0.5, '0.5'],
    [-1, '-1'],
    [1000000, '1e+06'],
    [123456, '123456'],
    [1234567, '1.23457e+06'],
    [0.0001, '0.0001'],
    [0.00001, '1e-05'],
    [1 / 3, '0.333333'],
    [2.5e-7, '2.5e-07'],
    [999999.5, '1e+06'],
    [0.000123456789, '0.000123457'],
  ])('pyFormatG(%d) is %s', (value, text) => {
    expect(pyFormatG(value)).toBe(text);
  });

  it('round() rounds the exact binary value, ties to even', () => {
    expect(pyRound(1 / 30, 6)).toBe(0.033333);
    expect(pyRound(2 / 3, 6)).toBe(0.666667);
    expect(pyRound(0.0078125, 6)).toBe(0.007812);
    // 0.0078135 is 0.00781349999… in binary: below the tie (Python says 0.007813).
    expect(pyRound(0.0078135, 6)).toBe(0.007813);
    expect(pyRound(-2.5, 0)).toBe(-2);
    expect(pyRound(3.5, 0)).toBe(4);
  });
});
