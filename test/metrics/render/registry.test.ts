// The /functions registry Grafana's function editor reads: every implemented function with
// graphite-web's group and parameter descriptions, and the JSON graphite writes for it.
import { describe, expect, it } from 'vitest';
import { FUNCTIONS, functionsJson } from '../../../agent/metrics/render/functions.js';

const REQUIRED_FUNCTIONS = [
  'constantLine',
  'alias',
  'aliasByNode',
  'aliasSub',
  'sumSeries',
  'averageSeries',
  'maxSeries',
  'minSeries',
  'diffSeries',
  'divideSeries',
  'scale',
  'offset',
  'absolute',
  'perSecond',
  'nonNegativeDerivative',
  'derivative',
  'integral',
  'summarize',
  'hitcount',
  'movingAverage',
  'consolidateBy',
  'keepLastValue',
  'transformNull',
  'timeShift',
  'groupByNode',
  'asPercent',
  'highestCurrent',
  'highestAverage',
  'lowestCurrent',
  'sortByMaxima',
  'limit',
  'exclude',
  'grep',
  'removeBelowValue',
  'removeAboveValue',
];

describe('FUNCTIONS', () => {
  it('describes every required function the way graphite-web does', () => {
    for (const name of REQUIRED_FUNCTIONS) {
      const info = FUNCTIONS[name];
      expect(info, name).toBeDefined();
      expect(info?.name).toBe(name);
      expect(info?.module).toBe('graphite.render.functions');
      expect(info?.function.startsWith(`${name}(`), name).toBe(true);
      expect(info?.description.length, name).toBeGreaterThan(20);
      expect([
        'Combine',
        'Transform',
        'Calculate',
        'Filter Series',
        'Filter Data',
        'Sorting',
        'Alias',
        'Special',
      ]).toContain(info?.group);
    }
  });

  it('carries graphite-web 1.1 groups and parameters', () => {
    expect(FUNCTIONS.scale).toMatchObject({
      group: 'Transform',
      function: 'scale(seriesList, factor)',
      params: [
        { name: 'seriesList', type: 'seriesList', required: true },
        { name: 'factor', type: 'float', required: true },
      ],
    });
    expect(FUNCTIONS.sumSeries?.params).toEqual([
      { name: 'seriesLists', type: 'seriesList', required: true, multiple: true },
    ]);
    expect(FUNCTIONS.movingAverage?.group).toBe('Calculate');
    expect(FUNCTIONS.movingAverage?.params[1]).toEqual({
      name: 'windowSize',
      type: 'intOrInterval',
      required: true,
      suggestions: [5, 7, 10, '1min', '5min', '10min', '30min', '1hour'],
    });
    expect(FUNCTIONS.keepLastValue?.params[1]).toEqual({
      name: 'limit',
      type: 'intOrInf',
      default: Infinity,
    });
    expect(FUNCTIONS.aliasByNode?.params[1]).toEqual({
      name: 'nodes',
      type: 'nodeOrTag',
      required: true,
      multiple: true,
    });
    expect(FUNCTIONS.constantLine?.params).toEqual([{ name: 'value', type: 'float', required: true }]);
    expect(FUNCTIONS.highestCurrent?.group).toBe('Filter Series');
    expect(FUNCTIONS.removeBelowValue?.group).toBe('Filter Data');
    expect(FUNCTIONS.sortByMaxima?.group).toBe('Sorting');
  });

  it('lists options sorted, aggregation names included for aggFunc parameters', () => {
    expect(FUNCTIONS.consolidateBy?.params[1]?.options).toEqual([
      'average',
      'avg',
      'avg_zero',
      'first',
      'last',
      'max',
      'min',
      'sum',
    ]);
    expect(FUNCTIONS.summarize?.params[2]).toEqual({
      name: 'func',
      type: 'aggFunc',
      default: 'sum',
      options: [
        'average',
        'avg',
        'avg_zero',
        'count',
        'current',
        'diff',
        'last',
        'max',
        'median',
        'min',
        'multiply',
        'range',
        'rangeOf',
        'stddev',
        'sum',
        'total',
      ],
    });
    expect(FUNCTIONS.groupByNode?.params[2]?.options).toEqual(
      expect.arrayContaining(['sum', 'sumSeries', 'average']),
    );
  });
});

describe('functionsJson', () => {
  it('writes infinite defaults as 1e9999, which parses back to Infinity', () => {
    const text = functionsJson();
    expect(text).toContain('"default":1e9999');
    const parsed = JSON.parse(text) as Record<string, { params: Array<{ default?: unknown }> }>;
    expect(parsed.keepLastValue?.params[1]?.default).toBe(Infinity);
    expect(Object.keys(parsed)).toEqual(expect.arrayContaining(REQUIRED_FUNCTIONS));
  });

  it('groups and filters like ?grouped=1 and ?group=', () => {
    const grouped = JSON.parse(functionsJson({ grouped: true })) as Record<string, Record<string, unknown>>;
    expect(Object.keys(grouped.Combine ?? {})).toEqual(
      expect.arrayContaining(['sumSeries', 'groupByNode', 'asPercent']),
    );
    const alias = JSON.parse(functionsJson({ group: 'Alias' })) as Record<string, unknown>;
    expect(Object.keys(alias).sort()).toEqual(['alias', 'aliasByNode', 'aliasSub']);
  });
});
