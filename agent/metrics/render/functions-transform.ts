// Render functions that change each series' values on their own (graphite-web's 'Transform' and
// 'Special' groups): scale, offset, absolute, derivative, perSecond, nonNegativeDerivative,
// integral, keepLastValue, transformNull, consolidateBy, and constantLine. Names, tags and null
// handling follow graphite-web's render/functions.py.
import { safeAbs, safeMul, type Value } from './aggfuncs.js';
import {
  numberArg,
  optionalNumberArg,
  optionalSeriesListArg,
  seriesListArg,
  stringArg,
} from './arg-access.js';
import type { FunctionDefinition, ParamInfo, RenderWindow } from './function-types.js';
import { zipLongest } from './normalize.js';
import { pyFloatStr, pyFormatG, pyRound } from './py.js';
import { CONSOLIDATION_FUNCS, TimeSeries, type ConsolidationFunc } from './series.js';

const SERIES_LIST: ParamInfo = { name: 'seriesList', type: 'seriesList', required: true };

/** graphite's _nonNegativeDelta: [delta, new previous]. Values beyond maxValue/minValue are
 * dropped; a decrease is a counter wrap (at maxValue, or to minValue) or, without them, null. */
function nonNegativeDelta(
  value: Value,
  previous: Value,
  maxValue?: number,
  minValue?: number,
): [Value, Value] {
  if (maxValue !== undefined && value !== null && value > maxValue) return [null, null];
  if (minValue !== undefined && value !== null && value < minValue) return [null, null];
  if (previous === null || value === null) return [null, value];
  if (value >= previous) return [value - previous, value];
  if (maxValue !== undefined) return [maxValue + 1 + value - previous - (minValue ?? 0), value];
  if (minValue !== undefined) return [value - minValue, value];
  return [null, value];
}

function scale(seriesList: TimeSeries[], factor: number): TimeSeries[] {
  for (const series of seriesList) {
    series.tags.scale = pyFloatStr(factor);
    series.name = `scale(${series.name},${pyFormatG(factor)})`;
    series.pathExpression = series.name;
    series.values = series.values.map((value) => safeMul(value, factor));
  }
  return seriesList;
}

function offset(seriesList: TimeSeries[], factor: number): TimeSeries[] {
  for (const series of seriesList) {
    series.tags.offset = pyFloatStr(factor);
    series.name = `offset(${series.name},${pyFormatG(factor)})`;
    series.pathExpression = series.name;
    series.values = series.values.map((value) => (value === null ? null : value + factor));
  }
  return seriesList;
}

function absolute(seriesList: TimeSeries[]): TimeSeries[] {
  for (const series of seriesList) {
    series.tags.absolute = '1';
    series.name = `absolute(${series.name})`;
    series.pathExpression = series.name;
    series.values = series.values.map(safeAbs);
  }
  return seriesList;
}

/** A copy of each series with new values, named `<tag>(<name>)` and tagged `<tag>=1`. */
function derived(
  seriesList: TimeSeries[],
  tag: string,
  compute: (series: TimeSeries) => Value[],
): TimeSeries[] {
  return seriesList.map((series) => {
    series.tags[tag] = '1';
    return series.copy({ name: `${tag}(${series.name})`, values: compute(series) });
  });
}

function derivative(series: TimeSeries): Value[] {
  let previous: Value = null;
  return series.consolidatedValues().map((value) => {
    const delta = previous === null || value === null ? null : value - previous;
    previous = value;
    return delta;
  });
}

function nonNegativeDeltas(series: TimeSeries, maxValue?: number, minValue?: number): Value[] {
  let previous: Value = null;
  return series.consolidatedValues().map((value) => {
    const [delta, next] = nonNegativeDelta(value, previous, maxValue, minValue);
    previous = next;
    return delta;
  });
}

function integral(series: TimeSeries): Value[] {
  let current = 0;
  return series.consolidatedValues().map((value) => {
    if (value === null) return null;
    current += value;
    return current;
  });
}

function keepLastValue(seriesList: TimeSeries[], limit: number): TimeSeries[] {
  for (const series of seriesList) {
    series.name = `keepLastValue(${series.name})`;
    series.pathExpression = series.name;
    const values = series.values;
    let nulls = 0;
    let last: Value = null;
    values.forEach((value, index) => {
      if (value === null) {
        nulls++;
        return;
      }
      // A gap no longer than the limit, after a value, is filled with that value.
      if (nulls > 0 && nulls <= limit && last !== null) values.fill(last, index - nulls, index);
      nulls = 0;
      last = value;
    });
    if (nulls > 0 && nulls <= limit && last !== null) values.fill(last, values.length - nulls);
  }
  return seriesList;
}

function transformNull(
  seriesList: TimeSeries[],
  fallback: number,
  fallbackGiven: boolean,
  reference: TimeSeries[] | undefined,
): TimeSeries[] {
  const hasReference = reference !== undefined && reference.length > 0;
  // With reference series, nulls are replaced only where some reference series has a value.
  const defaults = hasReference
    ? zipLongest(reference).map((row) => (row.some((v) => v !== null) ? fallback : null))
    : [];
  for (const series of seriesList) {
    // Python prints its int default as 0 and a given (float-validated) value as e.g. 0.0.
    series.tags.transformNull = fallbackGiven ? pyFloatStr(fallback) : pyFormatG(fallback);
    if (hasReference) series.tags.referenceSeries = '1';
    series.name = hasReference
      ? `transformNull(${series.name},${pyFormatG(fallback)},referenceSeries)`
      : `transformNull(${series.name},${pyFormatG(fallback)})`;
    series.pathExpression = series.name;
    if (defaults.length > 0) {
      const length = Math.max(series.values.length, defaults.length);
      const values: Value[] = [];
      for (let i = 0; i < length; i++) values.push(series.values[i] ?? defaults[i] ?? null);
      series.values = values;
    } else {
      series.values = series.values.map((value) => value ?? fallback);
    }
  }
  return seriesList;
}

function consolidateBy(seriesList: TimeSeries[], func: ConsolidationFunc): TimeSeries[] {
  for (const series of seriesList) {
    series.consolidationFunc = func;
    series.tags.consolidateBy = func;
    series.name = `consolidateBy(${series.name},"${func}")`;
    series.pathExpression = series.name;
  }
  return seriesList;
}

/** A three-point horizontal line across the window, named after the value (`100.0`). */
export function constantLine(window: RenderWindow, value: number): TimeSeries[] {
  const start = Math.trunc(window.from);
  const end = Math.trunc(window.until);
  const step = Math.trunc((end - start) / 2);
  const text = pyFloatStr(value);
  return [
    new TimeSeries(text, start, end, step, [value, value, value], {
      xFilesFactor: window.xFilesFactor,
      pathExpression: `constantLine(${text})`,
    }),
  ];
}

function isConsolidationFunc(value: string): value is ConsolidationFunc {
  return (CONSOLIDATION_FUNCS as readonly string[]).includes(value);
}

const MAX_VALUE: ParamInfo = { name: 'maxValue', type: 'float' };
const MIN_VALUE: ParamInfo = { name: 'minValue', type: 'float' };

export const TRANSFORM_FUNCTIONS: FunctionDefinition[] = [
  {
    name: 'scale',
    group: 'Transform',
    description:
      'Multiplies every value by a constant.\n\n.. code-block:: none\n\n  &target=scale(Server.instance01.threads.busy,10)',
    signature: 'scale(seriesList, factor)',
    params: [SERIES_LIST, { name: 'factor', type: 'float', required: true }],
    impl: (_env, args) => scale(seriesListArg(args, 'seriesList'), numberArg(args, 'factor')),
  },
  {
    name: 'offset',
    group: 'Transform',
    description:
      'Adds a constant to every non-null value.\n\n.. code-block:: none\n\n  &target=offset(Server.instance01.threads.busy,10)',
    signature: 'offset(seriesList, factor)',
    params: [SERIES_LIST, { name: 'factor', type: 'float', required: true }],
    impl: (_env, args) => offset(seriesListArg(args, 'seriesList'), numberArg(args, 'factor')),
  },
  {
    name: 'absolute',
    group: 'Transform',
    description:
      'The absolute value of every value.\n\n.. code-block:: none\n\n  &target=absolute(Server.instance01.threads.busy)',
    signature: 'absolute(seriesList)',
    params: [SERIES_LIST],
    impl: (_env, args) => absolute(seriesListArg(args, 'seriesList')),
  },
  {
    name: 'derivative',
    group: 'Transform',
    description:
      'The difference between each value and the one before (null when either is null). For a rate per second, use perSecond.\n\n' +
      '.. code-block:: none\n\n  &target=derivative(company.server.application01.ifconfig.TXPackets)',
    signature: 'derivative(seriesList)',
    params: [SERIES_LIST],
    impl: (_env, args) => derived(seriesListArg(args, 'seriesList'), 'derivative', derivative),
  },
  {
    name: 'perSecond',
    group: 'Transform',
    description:
      'nonNegativeDerivative divided by the step: the rate per second of a counter. maxValue and minValue handle counter wraps as in nonNegativeDerivative.\n\n' +
      '.. code-block:: none\n\n  &target=perSecond(company.server.application01.ifconfig.TXPackets)',
    signature: 'perSecond(seriesList, maxValue=None, minValue=None)',
    params: [SERIES_LIST, MAX_VALUE, MIN_VALUE],
    impl: (_env, args) => {
      const maxValue = optionalNumberArg(args, 'maxValue');
      const minValue = optionalNumberArg(args, 'minValue');
      return derived(seriesListArg(args, 'seriesList'), 'perSecond', (series) =>
        nonNegativeDeltas(series, maxValue, minValue).map((delta) =>
          delta === null ? null : pyRound(delta / series.step, 6),
        ),
      );
    },
  },
  {
    name: 'nonNegativeDerivative',
    group: 'Transform',
    description:
      'Like derivative, but a decrease (a counter reset) gives null, or, with maxValue, the delta as if the counter wrapped at maxValue ' +
      '(with minValue, as if it wrapped to minValue). Values above maxValue or below minValue give null.\n\n' +
      '.. code-block:: none\n\n  &target=nonNegativeDerivative(company.server.application01.ifconfig.TXPackets)',
    signature: 'nonNegativeDerivative(seriesList, maxValue=None, minValue=None)',
    params: [SERIES_LIST, MAX_VALUE, MIN_VALUE],
    impl: (_env, args) => {
      const maxValue = optionalNumberArg(args, 'maxValue');
      const minValue = optionalNumberArg(args, 'minValue');
      return derived(seriesListArg(args, 'seriesList'), 'nonNegativeDerivative', (series) =>
        nonNegativeDeltas(series, maxValue, minValue),
      );
    },
  },
  {
    name: 'integral',
    group: 'Transform',
    description:
      'The running total of the values (nulls stay null and add nothing).\n\n.. code-block:: none\n\n  &target=integral(company.sales.perMinute)',
    signature: 'integral(seriesList)',
    params: [SERIES_LIST],
    impl: (_env, args) => derived(seriesListArg(args, 'seriesList'), 'integral', integral),
  },
  {
    name: 'keepLastValue',
    group: 'Transform',
    description:
      'Fills gaps of nulls with the last value before them, for gaps of at most `limit` points (any length by default).\n\n' +
      '.. code-block:: none\n\n  &target=keepLastValue(Server01.connections.handled)\n  &target=keepLastValue(Server01.connections.handled, 10)',
    signature: 'keepLastValue(seriesList, limit=inf)',
    params: [SERIES_LIST, { name: 'limit', type: 'intOrInf', default: Infinity }],
    impl: (_env, args) =>
      keepLastValue(seriesListArg(args, 'seriesList'), numberArg(args, 'limit', Infinity)),
  },
  {
    name: 'transformNull',
    group: 'Transform',
    description:
      'Replaces nulls with `default` (0 unless given). With referenceSeries, only where at least one of those series has a value.\n\n' +
      '.. code-block:: none\n\n  &target=transformNull(webapp.pages.*.views,-1)',
    signature: 'transformNull(seriesList, default=0, referenceSeries=None)',
    params: [
      SERIES_LIST,
      { name: 'default', type: 'float', default: 0 },
      { name: 'referenceSeries', type: 'seriesList' },
    ],
    impl: (_env, args) =>
      transformNull(
        seriesListArg(args, 'seriesList'),
        numberArg(args, 'default', 0),
        args.get('default') !== undefined,
        optionalSeriesListArg(args, 'referenceSeries'),
      ),
  },
  {
    name: 'consolidateBy',
    group: 'Special',
    description:
      'Sets how points are combined when a series has more points than can be shown (maxDataPoints): ' +
      "'average' (the default), 'sum', 'min', 'max', 'first' or 'last'.\n\n" +
      ".. code-block:: none\n\n  &target=consolidateBy(Sales.widgets.largeBlue, 'sum')",
    signature: 'consolidateBy(seriesList, consolidationFunc)',
    params: [
      SERIES_LIST,
      { name: 'consolidationFunc', type: 'string', required: true, options: [...CONSOLIDATION_FUNCS] },
    ],
    impl: (_env, args) => {
      const func = stringArg(args, 'consolidationFunc');
      if (!isConsolidationFunc(func)) throw new Error(`Invalid consolidation function: '${func}'`);
      return consolidateBy(seriesListArg(args, 'seriesList'), func);
    },
  },
  {
    name: 'constantLine',
    group: 'Special',
    description:
      'A horizontal line at the given value across the graph.\n\n.. code-block:: none\n\n  &target=constantLine(123.456)',
    signature: 'constantLine(value)',
    params: [{ name: 'value', type: 'float', required: true }],
    impl: (env, args) => constantLine(env.window, numberArg(args, 'value')),
  },
];
