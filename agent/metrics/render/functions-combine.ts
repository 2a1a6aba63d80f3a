// Render functions that combine several series (graphite-web's 'Combine' group): the row-wise
// aggregates (sumSeries and friends, aggregate), divideSeries, asPercent, groupByNode(s), group.
// Names, tags, step alignment and null handling follow graphite-web's render/functions.py.
import { safeDiv, safeMul, safeSum, type Value } from './aggfuncs.js';
import {
  isSeriesList,
  nodeArg,
  nodesArg,
  optionalNumberArg,
  seriesListArg,
  seriesListsArg,
  stringArg,
} from './arg-access.js';
import type { ArgValue, CallEnv, FunctionDefinition, ParamInfo, RenderWindow } from './function-types.js';
import { InputParameterError } from './function-types.js';
import { aggKey, aggregate, formatPathExpressions, lcm, normalize, zipLongest } from './normalize.js';
import { pyMod, pyNumberStr } from './py.js';
import { TimeSeries } from './series.js';

const SERIES_LISTS: ParamInfo = { name: 'seriesLists', type: 'seriesList', required: true, multiple: true };
const SERIES_LIST: ParamInfo = { name: 'seriesList', type: 'seriesList', required: true };

/** Series functions that may serve as groupByNode callbacks (graphite's `aggregator = True`). */
export const AGGREGATOR_FUNCTION_NAMES = [
  'asPercent',
  'averageSeries',
  'avg',
  'diffSeries',
  'maxSeries',
  'minSeries',
  'pct',
  'sum',
  'sumSeries',
];

function rowAggregate(name: string, func: string, description: string): FunctionDefinition {
  return {
    name,
    group: 'Combine',
    description,
    signature: `${name}(*seriesLists)`,
    params: [SERIES_LISTS],
    aggregator: true,
    impl: (env, args) => aggregate(env.window, seriesListsArg(args, 'seriesLists'), func),
  };
}

const SUM_DESCRIPTION =
  'Adds the series together point by point (nulls are skipped; a point is null only when every series is). ' +
  'Series of different steps are first consolidated to their least common multiple.\n\n' +
  '.. code-block:: none\n\n  &target=sumSeries(servers.*.requests)';
const AVERAGE_DESCRIPTION =
  'The average of the series at each point, over the non-null values.\n\n' +
  '.. code-block:: none\n\n  &target=averageSeries(servers.*.load)';

/** divideSeries: each dividend over the single divisor; nulls and zero divisors give null. */
function divideSeries(env: CallEnv, dividends: TimeSeries[], divisors: TimeSeries[]): TimeSeries[] {
  if (divisors.length === 0) {
    for (const series of dividends) {
      series.name = `divideSeries(${series.name},MISSING)`;
      series.pathExpression = series.name;
      series.values = series.values.map(() => null);
    }
    return dividends;
  }
  if (divisors.length > 1) {
    throw new InputParameterError(
      `divideSeries second argument must reference exactly 1 series (got ${divisors.length})`,
    );
  }
  const divisor = divisors[0] as TimeSeries;
  return dividends.map((dividend) => {
    const both = [dividend, divisor];
    const step = lcm(dividend.step, divisor.step);
    for (const series of both) series.setValuesPerPoint(Math.floor(step / series.step));
    const start = Math.min(dividend.start, divisor.start);
    let end = Math.max(dividend.end, divisor.end);
    end -= pyMod(end - start, step);
    const values = zipLongest(both).map(([a = null, b = null]) => safeDiv(a, b));
    return new TimeSeries(`divideSeries(${dividend.name},${divisor.name})`, start, end, step, values, {
      xFilesFactor: env.window.xFilesFactor,
    });
  });
}

function percentValues(values: readonly Value[], totals: readonly Value[]): Value[] {
  const length = Math.max(values.length, totals.length);
  const out: Value[] = [];
  for (let i = 0; i < length; i++) out.push(safeMul(safeDiv(values[i] ?? null, totals[i] ?? null), 100));
  return out;
}

/** A sum of a group as asPercent builds it (a single series stands for itself). */
function groupTotal(group: TimeSeries[], window: RenderWindow): TimeSeries {
  if (group.length === 1) return group[0] as TimeSeries;
  const name = `sumSeries(${formatPathExpressions(group)})`;
  const { start, end, step } = normalize([group]);
  const values = zipLongest(group).map((row) => safeSum(row));
  return new TimeSeries(name, start, end, step, values, { xFilesFactor: window.xFilesFactor });
}

function asPercentByNodes(
  window: RenderWindow,
  seriesList: TimeSeries[],
  total: TimeSeries[] | undefined,
  nodes: Array<number | string>,
): TimeSeries[] {
  const { keys, groups } = groupedByNodes(seriesList, nodes);
  const totals = new Map<string, TimeSeries>();
  if (total === undefined) {
    for (const key of keys) totals.set(key, groupTotal(groups.get(key) ?? [], window));
  } else {
    const totalGroups = new Map<string, TimeSeries[]>();
    for (const series of total) {
      const key = aggKey(series, nodes);
      const group = totalGroups.get(key);
      if (group) group.push(series);
      else {
        totalGroups.set(key, [series]);
        if (!keys.includes(key)) keys.push(key);
      }
    }
    for (const [key, group] of totalGroups) totals.set(key, groupTotal(group, window));
  }
  const results: TimeSeries[] = [];
  const options = { xFilesFactor: window.xFilesFactor };
  for (const key of keys) {
    const group = groups.get(key);
    const totalSeries = totals.get(key);
    if (!group) {
      // A total without series: all-null, named after what is missing.
      if (totalSeries) {
        const values = totalSeries.consolidatedValues().map(() => null);
        const { start, end, step } = totalSeries;
        results.push(
          new TimeSeries(`asPercent(MISSING,${totalSeries.name})`, start, end, step, values, options),
        );
      }
      continue;
    }
    for (const series of group) {
      if (!totalSeries) {
        const values = series.consolidatedValues().map(() => null);
        results.push(
          new TimeSeries(
            `asPercent(${series.name},MISSING)`,
            series.start,
            series.end,
            series.step,
            values,
            options,
          ),
        );
        continue;
      }
      const { start, end, step } = normalize([[series, totalSeries]]);
      const values = percentValues(series.consolidatedValues(), totalSeries.consolidatedValues());
      results.push(
        new TimeSeries(`asPercent(${series.name},${totalSeries.name})`, start, end, step, values, options),
      );
    }
  }
  return results;
}

function asPercent(
  env: CallEnv,
  seriesList: TimeSeries[],
  total: ArgValue | undefined,
  totalIsFloat: boolean,
  nodes: Array<number | string>,
): TimeSeries[] {
  const { window } = env;
  // Throws NormalizeEmptyResultError on an empty list: the call then yields nothing.
  normalize([seriesList]);
  if (nodes.length > 0) {
    if (total !== undefined && !isSeriesList(total)) {
      throw new InputParameterError('total must be None or a seriesList');
    }
    return asPercentByNodes(window, seriesList, total, nodes);
  }
  const options = { xFilesFactor: window.xFilesFactor };
  let totalValues: Value[];
  let totalText: string;
  if (total === undefined) {
    totalValues = zipLongest(seriesList).map((row) => safeSum(row));
    totalText = `sumSeries(${formatPathExpressions(seriesList)})`;
  } else if (isSeriesList(total)) {
    const totals = total;
    if (totals.length !== 1 && totals.length !== seriesList.length) {
      throw new InputParameterError(
        'asPercent second argument must be missing, a single digit, reference exactly 1 series or reference the same number of series as the first argument',
      );
    }
    if (totals.length === seriesList.length) {
      // One total per series, matched by sorted names.
      const byName = (a: TimeSeries, b: TimeSeries): number =>
        a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
      const sortedSeries = [...seriesList].sort(byName);
      const sortedTotals = [...totals].sort(byName);
      return sortedSeries.map((series, index) => {
        const totalSeries = sortedTotals[index] as TimeSeries;
        const { start, end, step } = normalize([[series, totalSeries]]);
        const values = percentValues(series.consolidatedValues(), totalSeries.consolidatedValues());
        return new TimeSeries(
          `asPercent(${series.name},${totalSeries.name})`,
          start,
          end,
          step,
          values,
          options,
        );
      });
    }
    const only = totals[0] as TimeSeries;
    normalize([seriesList, totals]);
    totalValues = only.consolidatedValues();
    totalText = only.name;
  } else if (typeof total === 'number') {
    totalValues = new Array<Value>(seriesList[0]?.length ?? 0).fill(total);
    totalText = pyNumberStr(total, totalIsFloat);
  } else {
    throw new InputParameterError('asPercent total must be None, a number or a series list');
  }
  return seriesList.map((series) => {
    const values = percentValues(series.consolidatedValues(), totalValues);
    const name = `asPercent(${series.name},${totalText || series.pathExpression})`;
    return new TimeSeries(name, series.start, series.end, series.step, values, options);
  });
}

async function groupByNodes(
  env: CallEnv,
  seriesList: TimeSeries[],
  callback: string,
  nodes: Array<number | string>,
): Promise<TimeSeries[]> {
  const { keys, groups } = groupedByNodes(seriesList, nodes);
  const results: TimeSeries[] = [];
  for (const key of keys) {
    const group = groups.get(key) ?? [];
    const combined = AGGREGATOR_FUNCTION_NAMES.includes(callback)
      ? await env.callSeriesFunction(callback, group)
      : aggregate(env.window, [group], callback);
    const first = combined[0];
    if (!first) continue;
    first.name = key;
    results.push(first);
  }
  return results;
}

const CALLBACK_OPTIONS = [...AGGREGATOR_FUNCTION_NAMES];

export const COMBINE_FUNCTIONS: FunctionDefinition[] = [
  rowAggregate('sumSeries', 'sum', SUM_DESCRIPTION),
  rowAggregate('sum', 'sum', `Short form of sumSeries.\n\n${SUM_DESCRIPTION}`),
  rowAggregate('averageSeries', 'average', AVERAGE_DESCRIPTION),
  rowAggregate('avg', 'average', `Short form of averageSeries.\n\n${AVERAGE_DESCRIPTION}`),
  rowAggregate(
    'maxSeries',
    'max',
    'The highest value of the series at each point.\n\n.. code-block:: none\n\n  &target=maxSeries(servers.*.connections)',
  ),
  rowAggregate(
    'minSeries',
    'min',
    'The lowest value of the series at each point.\n\n.. code-block:: none\n\n  &target=minSeries(servers.*.connections)',
  ),
  rowAggregate(
    'diffSeries',
    'diff',
    'Subtracts the second and following series from the first, point by point (nulls are skipped). ' +
      'To subtract a constant, use offset.\n\n.. code-block:: none\n\n  &target=diffSeries(service.connections.total,service.connections.failed)',
  ),
  {
    name: 'aggregate',
    group: 'Combine',
    description:
      'Aggregates the series point by point with the given function (average, avg_zero, median, sum, min, max, ' +
      'diff, stddev, count, range, multiply, last, or their aliases avg, total, rangeOf, current).\n\n' +
      '.. code-block:: none\n\n  &target=aggregate(host.cpu-[0-7].cpu-{user,system}.value, "sum")',
    signature: 'aggregate(seriesList, func, xFilesFactor=None)',
    params: [
      SERIES_LIST,
      { name: 'func', type: 'aggFunc', required: true },
      { name: 'xFilesFactor', type: 'float' },
    ],
    impl: (env, args) =>
      aggregate(
        env.window,
        [seriesListArg(args, 'seriesList')],
        stringArg(args, 'func'),
        optionalNumberArg(args, 'xFilesFactor'),
      ),
  },
  {
    name: 'divideSeries',
    group: 'Combine',
    description:
      'Divides each series of the first list by the single series of the second (a null or zero divisor gives null). ' +
      'To divide by a constant, use scale with the inverse.\n\n.. code-block:: none\n\n  &target=divideSeries(Series.dividends,Series.divisors)',
    signature: 'divideSeries(dividendSeriesList, divisorSeries)',
    params: [
      { name: 'dividendSeriesList', type: 'seriesList', required: true },
      { name: 'divisorSeries', type: 'seriesList', required: true },
    ],
    impl: (env, args) =>
      divideSeries(env, seriesListArg(args, 'dividendSeriesList'), seriesListArg(args, 'divisorSeries')),
  },
  ...['asPercent', 'pct'].map((name): FunctionDefinition => ({
    name,
    group: 'Combine',
    description:
      'Each series as a percentage of a total: the sum of the list when no total is given, a number, a single series, ' +
      'or as many series as the list (matched by sorted name). With nodes, series and totals are matched on those nodes or tags.\n\n' +
      '.. code-block:: none\n\n  &target=asPercent(Server01.connections.{failed,succeeded}, Server01.connections.attempted)\n' +
      '  &target=asPercent(apache01.threads.busy,1500)',
    signature: `${name}(seriesList, total=None, *nodes)`,
    params: [
      SERIES_LIST,
      { name: 'total', type: 'any' },
      { name: 'nodes', type: 'nodeOrTag', multiple: true },
    ],
    aggregator: true,
    impl: (env, args) =>
      asPercent(
        env,
        seriesListArg(args, 'seriesList'),
        args.get('total'),
        args.isFloatLiteral('total'),
        nodesArg(args, 'nodes'),
      ),
  })),
  {
    name: 'groupByNode',
    group: 'Combine',
    description:
      'Groups the series on one node of their names (or a tag) and combines each group with the callback ' +
      '(an aggregation such as sum, or a series function such as sumSeries); each result is named after its node.\n\n' +
      '.. code-block:: none\n\n  &target=groupByNode(ganglia.by-function.*.*.cpu.load5,2,"sumSeries")',
    signature: "groupByNode(seriesList, nodeNum, callback='average')",
    params: [
      SERIES_LIST,
      { name: 'nodeNum', type: 'nodeOrTag', required: true },
      { name: 'callback', type: 'aggOrSeriesFunc', default: 'average', options: CALLBACK_OPTIONS },
    ],
    impl: (env, args) =>
      groupByNodes(env, seriesListArg(args, 'seriesList'), stringArg(args, 'callback', 'average'), [
        nodeArg(args, 'nodeNum'),
      ]),
  },
  {
    name: 'groupByNodes',
    group: 'Combine',
    description:
      'Like groupByNode, on several nodes or tags; each result is named after them, joined by dots.\n\n' +
      '.. code-block:: none\n\n  &target=groupByNodes(ganglia.server*.*.cpu.load*,"sum",1,4)',
    signature: 'groupByNodes(seriesList, callback, *nodes)',
    params: [
      SERIES_LIST,
      { name: 'callback', type: 'aggOrSeriesFunc', required: true, options: CALLBACK_OPTIONS },
      { name: 'nodes', type: 'nodeOrTag', multiple: true },
    ],
    impl: (env, args) =>
      groupByNodes(
        env,
        seriesListArg(args, 'seriesList'),
        stringArg(args, 'callback'),
        nodesArg(args, 'nodes'),
      ),
  },
  {
    name: 'group',
    group: 'Combine',
    description:
      'Puts several series lists into one, to hand them to a function that takes a single list.\n\n' +
      '.. code-block:: none\n\n  &target=group(a.b.c,d.e.f)',
    signature: 'group(*seriesLists)',
    params: [{ name: 'seriesLists', type: 'seriesList', multiple: true }],
    impl: (_env, args) => seriesListsArg(args, 'seriesLists').flat(),
  },
];

/** The series grouped by the key of their `nodes`, the keys in the order first seen (graphite's). */
function groupedByNodes(
  seriesList: TimeSeries[],
  nodes: Array<number | string>,
): { keys: string[]; groups: Map<string, TimeSeries[]> } {
  const keys: string[] = [];
  const groups = new Map<string, TimeSeries[]>();
  for (const series of seriesList) {
    const key = aggKey(series, nodes);
    const group = groups.get(key);
    if (group) group.push(series);
    else {
      groups.set(key, [series]);
      keys.push(key);
    }
  }
  return { keys, groups };
}
