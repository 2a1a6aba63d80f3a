// Typed reads of bound arguments for the function implementations. Binding has already checked
// types against the declared parameters; these reads only narrow (and fail loudly, naming the
// function and parameter, should a declaration and an implementation ever disagree).
import type { ArgValue, BoundArguments } from './function-types.js';
import { InputParameterError } from './function-types.js';
import { TimeSeries } from './series.js';

function wrong(args: BoundArguments, name: string, expected: string, value: ArgValue | undefined): never {
  throw new InputParameterError(
    `function "${args.functionName}" parameter "${name}": expected ${expected}, got ${value === undefined ? 'nothing' : typeof value}`,
  );
}

export function isSeriesList(value: ArgValue | undefined): value is TimeSeries[] {
  return Array.isArray(value) && value.every((series) => series instanceof TimeSeries);
}

export function seriesListArg(args: BoundArguments, name: string): TimeSeries[] {
  const value = args.get(name);
  if (!isSeriesList(value)) wrong(args, name, 'a series list', value);
  return value;
}

export function optionalSeriesListArg(args: BoundArguments, name: string): TimeSeries[] | undefined {
  const value = args.get(name);
  if (value === undefined) return undefined;
  if (!isSeriesList(value)) wrong(args, name, 'a series list', value);
  return value;
}

/** The lists of a `multiple` seriesList parameter. */
export function seriesListsArg(args: BoundArguments, name: string): TimeSeries[][] {
  return args.rest(name).map((value) => {
    if (!isSeriesList(value)) wrong(args, name, 'series lists', value);
    return value;
  });
}

export function numberArg(args: BoundArguments, name: string, fallback?: number): number {
  const value = args.get(name);
  if (value === undefined && fallback !== undefined) return fallback;
  if (typeof value !== 'number') wrong(args, name, 'a number', value);
  return value;
}

export function optionalNumberArg(args: BoundArguments, name: string): number | undefined {
  const value = args.get(name);
  if (value === undefined) return undefined;
  if (typeof value !== 'number') wrong(args, name, 'a number', value);
  return value;
}

export function stringArg(args: BoundArguments, name: string, fallback?: string): string {
  const value = args.get(name);
  if (value === undefined && fallback !== undefined) return fallback;
  if (typeof value !== 'string') wrong(args, name, 'a string', value);
  return value;
}

export function booleanArg(args: BoundArguments, name: string, fallback: boolean): boolean {
  const value = args.get(name);
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') wrong(args, name, 'a boolean', value);
  return value;
}

/** Node indexes or tag names (aliasByNode, groupByNodes, asPercent's nodes). */
export function nodesArg(args: BoundArguments, name: string): Array<number | string> {
  return args.rest(name).map((value) => {
    if (typeof value !== 'number' && typeof value !== 'string')
      wrong(args, name, 'a node index or a tag name', value);
    return value;
  });
}

/** A single node index or tag name (groupByNode's nodeNum). */
export function nodeArg(args: BoundArguments, name: string): number | string {
  const value = args.get(name);
  if (typeof value !== 'number' && typeof value !== 'string')
    wrong(args, name, 'a node index or a tag name', value);
  return value;
}
