// Render functions that pick, order, rename or blank out series (graphite-web's 'Filter Series',
// 'Filter Data', 'Sorting' and 'Alias' groups): highestCurrent, highestAverage, lowestCurrent,
// sortByMaxima, limit, exclude, grep, removeBelowValue, removeAboveValue, alias, aliasByNode,
// aliasSub, plus seriesByTag's description (the evaluator hands its text to the store).
import { safeAvg, safeLast, safeMax, type AggFunc } from './aggfuncs.js';
import { nodesArg, numberArg, seriesListArg, stringArg } from './arg-access.js';
import type { FunctionDefinition, ParamInfo } from './function-types.js';
import { InputParameterError } from './function-types.js';
import { aggKey } from './normalize.js';
import { pyFormatG, pyNumberStr } from './py.js';
import { compilePythonRegex, pythonSearch, pythonSub } from './pyregex.js';
import type { TimeSeries } from './series.js';

const SERIES_LIST: ParamInfo = { name: 'seriesList', type: 'seriesList', required: true };
const N_INTEGER: ParamInfo = { name: 'n', type: 'integer', required: true };
const N_FLOAT: ParamInfo = { name: 'n', type: 'float', required: true };

/**
 * Stable sort by an aggregate of each series' values (null sorts as -infinity, as graphite's
 * keyFunc makes it); `descending` keeps equal keys in their original order, as Python's
 * `sort(reverse=True)` does.
 */
function sortByAggregate(seriesList: TimeSeries[], func: AggFunc, descending: boolean): TimeSeries[] {
  const keyed = seriesList.map((series) => ({ series, key: func(series.consolidatedValues()) ?? -Infinity }));
  keyed.sort((a, b) => (descending ? compare(b.key, a.key) : compare(a.key, b.key)));
  return keyed.map(({ series }) => series);
}

function compare(a: number, b: number): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function removeValues(
  seriesList: TimeSeries[],
  functionName: string,
  threshold: number,
  remove: (value: number | null) => boolean,
): TimeSeries[] {
  for (const series of seriesList) {
    series.name = `${functionName}(${series.name}, ${pyFormatG(threshold)})`;
    series.pathExpression = series.name;
    series.values = series.values.map((value) => (remove(value) ? null : value));
  }
  return seriesList;
}

function filterByName(seriesList: TimeSeries[], pattern: string, keepMatches: boolean): TimeSeries[] {
  const regex = compilePythonRegex(pattern);
  return seriesList.filter((series) => pythonSearch(regex, series.name) === keepMatches);
}

function selection(
  name: string,
  description: string,
  func: AggFunc,
  descending: boolean,
): FunctionDefinition {
  return {
    name,
    group: 'Filter Series',
    description,
    signature: `${name}(seriesList, n)`,
    params: [SERIES_LIST, N_INTEGER],
    impl: (_env, args) =>
      sortByAggregate(seriesListArg(args, 'seriesList'), func, descending).slice(0, numberArg(args, 'n')),
  };
}

export const FILTER_FUNCTIONS: FunctionDefinition[] = [
  selection(
    'highestCurrent',
    'The n series whose last non-null value is highest.\n\n.. code-block:: none\n\n  &target=highestCurrent(server*.instance*.threads.busy,5)',
    safeLast,
    true,
  ),
  selection(
    'highestAverage',
    'The n series with the highest average over the period.\n\n.. code-block:: none\n\n  &target=highestAverage(server*.instance*.threads.busy,5)',
    safeAvg,
    true,
  ),
  selection(
    'lowestCurrent',
    'The n series whose last non-null value is lowest (series with no value at all come first).\n\n' +
      '.. code-block:: none\n\n  &target=lowestCurrent(server*.instance*.threads.busy,5)',
    safeLast,
    false,
  ),
  {
    name: 'sortByMaxima',
    group: 'Sorting',
    description:
      'Sorts the series by their highest value, highest first.\n\n.. code-block:: none\n\n  &target=sortByMaxima(server*.instance*.memory.free)',
    signature: 'sortByMaxima(seriesList)',
    params: [SERIES_LIST],
    impl: (_env, args) => sortByAggregate(seriesListArg(args, 'seriesList'), safeMax, true),
  },
  {
    name: 'limit',
    group: 'Filter Series',
    description:
      'The first n series only.\n\n.. code-block:: none\n\n  &target=limit(server*.instance*.memory.free,5)',
    signature: 'limit(seriesList, n)',
    params: [SERIES_LIST, N_INTEGER],
    impl: (_env, args) => seriesListArg(args, 'seriesList').slice(0, numberArg(args, 'n')),
  },
  {
    name: 'exclude',
    group: 'Filter Series',
    description:
      'Drops the series whose name matches the regular expression.\n\n.. code-block:: none\n\n  &target=exclude(servers*.instance*.threads.busy,"server02")',
    signature: 'exclude(seriesList, pattern)',
    params: [SERIES_LIST, { name: 'pattern', type: 'string', required: true }],
    impl: (_env, args) => filterByName(seriesListArg(args, 'seriesList'), stringArg(args, 'pattern'), false),
  },
  {
    name: 'grep',
    group: 'Filter Series',
    description:
      'Keeps only the series whose name matches the regular expression.\n\n.. code-block:: none\n\n  &target=grep(servers*.instance*.threads.busy,"server02")',
    signature: 'grep(seriesList, pattern)',
    params: [SERIES_LIST, { name: 'pattern', type: 'string', required: true }],
    impl: (_env, args) => filterByName(seriesListArg(args, 'seriesList'), stringArg(args, 'pattern'), true),
  },
  {
    name: 'removeBelowValue',
    group: 'Filter Data',
    description:
      'Sets values below n to null.\n\n.. code-block:: none\n\n  &target=removeBelowValue(Server.instance01.threads.busy,5)',
    signature: 'removeBelowValue(seriesList, n)',
    params: [SERIES_LIST, N_FLOAT],
    impl: (_env, args) => {
      const n = numberArg(args, 'n');
      return removeValues(
        seriesListArg(args, 'seriesList'),
        'removeBelowValue',
        n,
        (value) => value === null || value < n,
      );
    },
  },
  {
    name: 'removeAboveValue',
    group: 'Filter Data',
    description:
      'Sets values above n to null.\n\n.. code-block:: none\n\n  &target=removeAboveValue(Server.instance01.threads.busy,50)',
    signature: 'removeAboveValue(seriesList, n)',
    params: [SERIES_LIST, N_FLOAT],
    impl: (_env, args) => {
      const n = numberArg(args, 'n');
      return removeValues(
        seriesListArg(args, 'seriesList'),
        'removeAboveValue',
        n,
        (value) => value !== null && value > n,
      );
    },
  },
  {
    name: 'alias',
    group: 'Alias',
    description:
      'Renames the series.\n\n.. code-block:: none\n\n  &target=alias(Sales.widgets.largeBlue,"Large Blue Widgets")',
    signature: 'alias(seriesList, newName)',
    params: [SERIES_LIST, { name: 'newName', type: 'string', required: true }],
    impl: (_env, args) => {
      const value = args.get('newName');
      let newName: string;
      if (typeof value === 'string') newName = value;
      else if (typeof value === 'number') newName = pyNumberStr(value, args.isFloatLiteral('newName'));
      else if (typeof value === 'boolean') newName = value ? 'True' : 'False';
      else throw new InputParameterError('alias: newName must be a string');
      const seriesList = seriesListArg(args, 'seriesList');
      for (const series of seriesList) series.name = newName;
      return seriesList;
    },
  },
  {
    name: 'aliasByNode',
    group: 'Alias',
    description:
      'Renames each series after some nodes of its name (0 is the first, -1 the last) or tags, joined by dots. ' +
      'For a function-style name, the nodes are those of its first metric path.\n\n' +
      '.. code-block:: none\n\n  &target=aliasByNode(ganglia.*.cpu.load5,1)',
    signature: 'aliasByNode(seriesList, *nodes)',
    params: [SERIES_LIST, { name: 'nodes', type: 'nodeOrTag', required: true, multiple: true }],
    impl: (_env, args) => {
      const nodes = nodesArg(args, 'nodes');
      const seriesList = seriesListArg(args, 'seriesList');
      for (const series of seriesList) series.name = aggKey(series, nodes);
      return seriesList;
    },
  },
  {
    name: 'aliasSub',
    group: 'Alias',
    description:
      'Renames each series by a regular expression search and replace (Python syntax: \\1 or \\g<name> in the replacement).\n\n' +
      '.. code-block:: none\n\n  &target=aliasSub(ip.*TCP*,"^.*TCP(\\d+)","\\1")',
    signature: 'aliasSub(seriesList, search, replace)',
    params: [
      SERIES_LIST,
      { name: 'search', type: 'string', required: true },
      { name: 'replace', type: 'string', required: true },
    ],
    impl: (_env, args) => {
      const search = stringArg(args, 'search');
      const replace = stringArg(args, 'replace');
      const seriesList = seriesListArg(args, 'seriesList');
      for (const series of seriesList) series.name = pythonSub(search, replace, series.name);
      return seriesList;
    },
  },
  {
    name: 'seriesByTag',
    group: 'Special',
    description:
      'The series whose tags match every expression: tag=value, tag!=value, tag=~regexp, tag!=~regexp.\n\n' +
      '.. code-block:: none\n\n  &target=seriesByTag("tag1=value1","tag2!=value2")',
    signature: 'seriesByTag(*tagExpressions)',
    params: [{ name: 'tagExpressions', type: 'string', required: true, multiple: true }],
    impl: () => {
      // The evaluator fetches seriesByTag(...) by its text and never calls this.
      throw new Error('seriesByTag is resolved by the store, not called');
    },
  },
];
