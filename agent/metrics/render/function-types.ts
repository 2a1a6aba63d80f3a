// The shapes shared by the render functions, their registry and the evaluator: parameter
// descriptions (graphite-web's functions/params.py, which its /functions endpoint serves and
// Grafana's function editor reads), argument values, and what a function is handed when called.
import type { ArgNode } from './parser.js';
import type { TimeSeries } from './series.js';

/** graphite-web's ParamTypes. */
export type ParamType =
  | 'aggFunc'
  | 'aggOrSeriesFunc'
  | 'any'
  | 'boolean'
  | 'date'
  | 'float'
  | 'integer'
  | 'interval'
  | 'intOrInf'
  | 'intOrInterval'
  | 'node'
  | 'nodeOrTag'
  | 'series'
  | 'seriesList'
  | 'seriesLists'
  | 'string'
  | 'tag';

/** A parameter as graphite-web's /functions endpoint describes it (absent keys are omitted there). */
export interface ParamInfo {
  name: string;
  type: ParamType;
  required?: true;
  /** Infinity stands for Python's `inf` (serialized as 1e9999, as Grafana expects). */
  default?: string | number | boolean;
  multiple?: true;
  options?: Array<string | number>;
  suggestions?: Array<string | number>;
}

/** A function as graphite-web's /functions endpoint describes it. */
export interface FunctionInfo {
  name: string;
  /** The Python signature, e.g. `scale(seriesList, factor)`. */
  function: string;
  description: string;
  module: 'graphite.render.functions';
  group: string;
  params: ParamInfo[];
}

/** An evaluated argument: a literal or a list of series. */
export type ArgValue = number | string | boolean | null | TimeSeries[];

/** The time window a function is evaluated over (graphite's requestContext). */
export interface RenderWindow {
  /** Epoch seconds, inclusive. */
  from: number;
  /** Epoch seconds. */
  until: number;
  /** Epoch seconds of "now" for the request. */
  now: number;
  /** The request's xFilesFactor (0 unless the request set one). */
  xFilesFactor: number;
}

/** What a function implementation gets besides its arguments. */
export interface CallEnv {
  window: RenderWindow;
  /** The parsed first positional argument (graphite's `requestContext['args'][0]`), for functions
   * that evaluate it again over another window (movingAverage, timeShift, hitcount). */
  firstArgNode: ArgNode | undefined;
  /** Evaluates an argument again over another window; the result must be a series list. */
  evaluateAt(node: ArgNode, window: RenderWindow): Promise<TimeSeries[]>;
  /** Calls a registered series function on one series list (groupByNode's callbacks). */
  callSeriesFunction(name: string, seriesList: TimeSeries[]): Promise<TimeSeries[]>;
}

/** Arguments bound to parameter names after graphite's validation. */
export interface BoundArguments {
  readonly functionName: string;
  /** The value given for `name`, undefined when absent or None. */
  get(name: string): ArgValue | undefined;
  /** The values collected by a `multiple` parameter (empty when none). */
  rest(name: string): ArgValue[];
  /** Whether the value for `name` was written as a float literal (`2.0`), which Python keeps apart
   * from `2` when it prints it. */
  isFloatLiteral(name: string): boolean;
}

export type SeriesFunctionImpl = (env: CallEnv, args: BoundArguments) => TimeSeries[] | Promise<TimeSeries[]>;

export interface FunctionDefinition {
  name: string;
  group: string;
  description: string;
  /** The Python signature (graphite's `function` key). */
  signature: string;
  params: ParamInfo[];
  /** Usable as a groupByNode callback (graphite's `aggregator = True`). */
  aggregator?: boolean;
  impl: SeriesFunctionImpl;
}

/** graphite's NormalizeEmptyResultError: the evaluator turns it into an empty result. */
export class NormalizeEmptyResultError extends Error {
  constructor() {
    super('no series to normalize');
    this.name = 'NormalizeEmptyResultError';
  }
}

/** A function called with arguments graphite refuses (InputParameterError). */
export class InputParameterError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InputParameterError';
  }
}
