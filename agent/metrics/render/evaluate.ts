// Evaluates one render target over a time window, the way graphite-web's evaluator.py does: path
// expressions (and seriesByTag calls, by their text) are handed to the caller's fetch, function
// calls get their arguments evaluated, validated and bound, and functions that need another window
// (movingAverage's preview, timeShift's shifted range, hitcount's aligned start) evaluate their
// first argument again over it. Storage stays outside: everything fetched comes through `fetch`.
import { isSeriesList } from './arg-access.js';
import type { CallEnv, RenderWindow } from './function-types.js';
import { InputParameterError, NormalizeEmptyResultError } from './function-types.js';
import { FUNCTION_DEFINITIONS } from './functions.js';
import { bindArguments, type GivenArg } from './params.js';
import { parseTarget, pathExpressionsOf, type ArgNode, type CallNode } from './parser.js';
import { DEFAULT_XFILES_FACTOR, TimeSeries } from './series.js';

/** Most function calls one target may make (re-evaluations included): nested movingAverage or
 * timeShift calls evaluate their argument twice each, which doubles per level. */
export const MAX_FUNCTION_CALLS = 10_000;
/** Most distinct fetches (path expression × window) one target may make. */
export const MAX_FETCHES = 1_000;

export interface EvaluateContext {
  /** Epoch seconds, start of the range. */
  from: number;
  /** Epoch seconds, end of the range. */
  until: number;
  /** Epoch seconds of "now" for the request. */
  now: number;
  /**
   * The series matching a path expression (globs included) or a `seriesByTag(...)` call's text,
   * over [from, until]. A series' start is its first value's timestamp, its end the fetch's end.
   */
  fetch(pathExpression: string, from: number, until: number): Promise<TimeSeries[]>;
  /** The request's xFilesFactor (graphite's `xFilesFactor` parameter); 0 by default. */
  xFilesFactor?: number;
}

/**
 * The series a target yields over [context.from, context.until]. An empty target yields none.
 * Throws TargetSyntaxError for a target that does not parse, InputParameterError for an unknown
 * function or arguments it refuses, and whatever `fetch` throws.
 */
export async function evaluateTarget(target: string, context: EvaluateContext): Promise<TimeSeries[]> {
  if (!target.trim()) return [];
  for (const [name, value] of [
    ['from', context.from],
    ['until', context.until],
    ['now', context.now],
  ] as const) {
    if (!Number.isFinite(value))
      throw new InputParameterError(`${name} must be a finite number of seconds, got ${value}`);
  }
  const expression = parseTarget(target);
  const window: RenderWindow = {
    from: context.from,
    until: context.until,
    now: context.now,
    xFilesFactor: context.xFilesFactor ?? DEFAULT_XFILES_FACTOR,
  };
  const evaluation = new Evaluation(context);
  // Fetch every path of the main window at once (graphite's prefetch), rather than one by one as
  // the evaluation reaches them.
  await Promise.all(pathExpressionsOf(expression).map((path) => evaluation.fetchRaw(path, window)));
  return evaluation.evaluateSeries(expression, window);
}

class Evaluation {
  private readonly fetched = new Map<string, Promise<TimeSeries[]>>();
  private calls = 0;

  constructor(private readonly context: EvaluateContext) {}

  /** The store's answer for a path over a window, fetched once per evaluation, merged and sorted. */
  fetchRaw(pathExpression: string, window: RenderWindow): Promise<TimeSeries[]> {
    const key = `${window.from}\u0000${window.until}\u0000${pathExpression}`;
    let pending = this.fetched.get(key);
    if (!pending) {
      if (this.fetched.size >= MAX_FETCHES) {
        throw new InputParameterError(`the target needs more than ${MAX_FETCHES} fetches`);
      }
      pending = this.context
        .fetch(pathExpression, window.from, window.until)
        .then((found) => mergeFetched(pathExpression, found));
      this.fetched.set(key, pending);
    }
    return pending;
  }

  /** Fresh copies of a fetch's series (functions change series in place), as graphite hands them:
   * the path expression is the one fetched, the xFilesFactor the request's. */
  private async fetchSeries(pathExpression: string, window: RenderWindow): Promise<TimeSeries[]> {
    const found = await this.fetchRaw(pathExpression, window);
    return found.map((series) => {
      const copy = series.clone();
      copy.pathExpression = pathExpression;
      copy.xFilesFactor = window.xFilesFactor;
      return copy;
    });
  }

  async evaluateSeries(node: ArgNode, window: RenderWindow): Promise<TimeSeries[]> {
    const { value } = await this.evaluateArg(node, window);
    if (!isSeriesList(value)) {
      throw new InputParameterError(
        `a series list is expected at position ${node.start}, not a ${node.type}`,
      );
    }
    return value;
  }

  private async evaluateArg(node: ArgNode, window: RenderWindow): Promise<GivenArg> {
    switch (node.type) {
      case 'number':
        return { value: node.value, isFloat: node.isFloat };
      case 'string':
      case 'boolean':
        return { value: node.value, isFloat: false };
      case 'none':
        return { value: null, isFloat: false };
      case 'path':
        return { value: await this.fetchSeries(node.path, window), isFloat: false };
      case 'call':
        return { value: await this.call(node, window), isFloat: false };
    }
  }

  private countCall(): void {
    this.calls++;
    if (this.calls > MAX_FUNCTION_CALLS) {
      throw new InputParameterError(`the target needs more than ${MAX_FUNCTION_CALLS} function calls`);
    }
  }

  private async call(node: CallNode, window: RenderWindow): Promise<TimeSeries[]> {
    this.countCall();
    // graphite hands the whole call's text to the store, which resolves the tag expressions.
    if (node.name === 'seriesByTag') return this.fetchSeries(node.raw, window);
    const definition = FUNCTION_DEFINITIONS.get(node.name);
    if (!definition) throw new InputParameterError(`Received request for unknown function: ${node.name}`);
    const positional: GivenArg[] = [];
    for (const arg of node.args) positional.push(await this.evaluateArg(arg, window));
    const keyword = new Map<string, GivenArg>();
    for (const kwarg of node.kwargs) keyword.set(kwarg.name, await this.evaluateArg(kwarg.value, window));
    const bound = bindArguments(node.name, definition.params, positional, keyword);
    return this.run(() => definition.impl(this.env(window, node.args[0]), bound));
  }

  /** Calls a function by name on one series list, unvalidated as graphite does for callbacks. */
  private async callByName(
    name: string,
    seriesList: TimeSeries[],
    window: RenderWindow,
  ): Promise<TimeSeries[]> {
    this.countCall();
    const definition = FUNCTION_DEFINITIONS.get(name);
    if (!definition) throw new InputParameterError(`Received request for unknown function: ${name}`);
    const bound = bindArguments(name, definition.params, [{ value: seriesList, isFloat: false }], new Map());
    return this.run(() => definition.impl(this.env(window, undefined), bound));
  }

  private env(window: RenderWindow, firstArgNode: ArgNode | undefined): CallEnv {
    return {
      window,
      firstArgNode,
      evaluateAt: (node, other) => this.evaluateSeries(node, other),
      callSeriesFunction: (name, seriesList) => this.callByName(name, seriesList, window),
    };
  }

  private async run(body: () => TimeSeries[] | Promise<TimeSeries[]>): Promise<TimeSeries[]> {
    try {
      return await body();
    } catch (error) {
      // graphite's evaluator turns a normalization of nothing into an empty result.
      if (error instanceof NormalizeEmptyResultError) return [];
      throw error;
    }
  }
}

/** graphite's _merge_results: one series per name (the one with fewer nulls), sorted by name. */
function mergeFetched(pathExpression: string, found: unknown): TimeSeries[] {
  if (!Array.isArray(found) || !found.every((series) => series instanceof TimeSeries)) {
    throw new Error(`fetch(${JSON.stringify(pathExpression)}) must resolve to an array of TimeSeries`);
  }
  const byName = new Map<string, TimeSeries>();
  const nullsOf = (series: TimeSeries): number => series.values.filter((value) => value === null).length;
  for (const series of found) {
    const known = byName.get(series.name);
    if (!known || (series.length > 0 && nullsOf(known) > nullsOf(series))) byName.set(series.name, series);
  }
  return [...byName.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}
