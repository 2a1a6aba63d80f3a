// Typed access to a call's arguments, with errors that quote the signature:
// "grep(string, path): path must be a string, got number 3".
import { ExpressionError, shorten } from '../errors.js';
import { pythonRepr } from '../python-format.js';
import { typeName, type EvaluatedValue } from '../values.js';

export interface Arity {
  /** Parameter names as in the signature, without defaults or `...`. */
  names: string[];
  min: number;
  max: number;
}

/** Reads `name(a, b=1, rest...)` into names and argument counts. */
export function arityOf(signature: string): Arity {
  const inside = signature.slice(signature.indexOf('(') + 1, signature.lastIndexOf(')')).trim();
  const parameters = inside === '' ? [] : inside.split(',').map((part) => part.trim());
  const variadic = parameters.some((parameter) => parameter.endsWith('...'));
  return {
    names: parameters.map((parameter) => parameter.replace(/=.*$/, '').replace(/\.\.\.$/, '')),
    // `values...` stands for one or more.
    min: parameters.filter((parameter) => !parameter.includes('=')).length,
    max: variadic ? Number.POSITIVE_INFINITY : parameters.length,
  };
}

export class Arguments {
  constructor(
    private readonly signature: string,
    private readonly arity: Arity,
    private readonly values: readonly EvaluatedValue[],
  ) {}

  get length(): number {
    return this.values.length;
  }

  /** All the arguments (for `name(values...)`). */
  all(): EvaluatedValue[] {
    return this.values.slice();
  }

  has(index: number): boolean {
    return index < this.values.length;
  }

  value(index: number): EvaluatedValue {
    const value = this.values[index];
    if (value === undefined) throw this.error(index, 'is missing');
    return value;
  }

  string(index: number, fallback?: string): string {
    if (!this.has(index) && fallback !== undefined) return fallback;
    const value = this.value(index);
    if (typeof value !== 'string') throw this.wrongType(index, 'a string', value);
    return value;
  }

  number(index: number, fallback?: number): number {
    if (!this.has(index) && fallback !== undefined) return fallback;
    const value = this.value(index);
    if (typeof value !== 'number' || Number.isNaN(value)) throw this.wrongType(index, 'a number', value);
    return value;
  }

  integer(index: number, fallback?: number): number {
    const value = this.number(index, fallback);
    if (!Number.isInteger(value)) throw this.wrongType(index, 'a whole number', value);
    return value;
  }

  boolean(index: number, fallback?: boolean): boolean {
    if (!this.has(index) && fallback !== undefined) return fallback;
    const value = this.value(index);
    if (typeof value !== 'boolean') throw this.wrongType(index, 'True or False', value);
    return value;
  }

  list(index: number): EvaluatedValue[] {
    const value = this.value(index);
    if (!Array.isArray(value)) throw this.wrongType(index, 'a list', value);
    return value;
  }

  /** An ExpressionError about argument `index`, quoting the signature. */
  error(index: number, problem: string): ExpressionError {
    const name = this.arity.names[Math.min(index, this.arity.names.length - 1)] ?? `argument ${index + 1}`;
    return new ExpressionError(`${this.signature}: ${name} ${problem}`);
  }

  private wrongType(index: number, expected: string, value: EvaluatedValue): ExpressionError {
    const shown = Array.isArray(value) ? 'a list' : `${typeName(value)} ${shorten(pythonRepr(value), 60)}`;
    return this.error(index, `must be ${expected}, got ${shown}`);
  }
}
