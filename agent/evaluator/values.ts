// What an expression computes with: numbers, strings, booleans and lists of those. Everything that
// enters expr-eval (references, function results) or leaves it (operator results, the final value)
// goes through asEvaluatedValue, so a function, an object, an oversized value or a number that is
// not finite never travels further than the step that produced it.
import { ExpressionError, UnknownValueError } from './errors.js';
import { MAX_LIST_ITEMS, MAX_STRING_CHARS, MAX_VALUE_CHARS, MAX_VALUE_DEPTH } from './limits.js';

export type EvaluatedPrimitive = number | string | boolean;
export type EvaluatedValue = EvaluatedPrimitive | EvaluatedValue[];

/**
 * Python-like truth, as the original rules and checks expect: 0, '', an empty list and null are
 * false (a detector's apply_if, a check's critical_if and warning_if).
 */
export function isTruthy(value: unknown): boolean {
  if (Array.isArray(value)) return value.length > 0;
  return Boolean(value);
}

/** The operator-facing name of a value's type, for error messages. */
export function typeName(value: unknown): string {
  if (Array.isArray(value)) return 'list';
  if (value === null) return 'null';
  if (typeof value === 'function') return 'function';
  return typeof value;
}

/** What a value may still hold while it is being checked. */
interface Budget {
  items: number;
  chars: number;
}

/**
 * `value` when it is an EvaluatedValue within the size limits, else an ExpressionError naming
 * `where` (an operator, a function, "the expression"). Arrays reaching this are ones expr-eval or
 * our own code built, so reading their elements runs no foreign code.
 */
export function asEvaluatedValue(value: unknown, where: string): EvaluatedValue {
  return checked(value, where, 0, { items: MAX_LIST_ITEMS, chars: MAX_VALUE_CHARS });
}

function checked(value: unknown, where: string, depth: number, budget: Budget): EvaluatedValue {
  if (typeof value === 'string') {
    if (value.length > MAX_STRING_CHARS) {
      throw new ExpressionError(
        `${where}: string of ${value.length} characters is over the limit of ${MAX_STRING_CHARS}`,
      );
    }
    budget.chars -= value.length;
    if (budget.chars < 0) {
      throw new ExpressionError(`${where}: value holds over ${MAX_VALUE_CHARS} characters`);
    }
    return value;
  }
  if (typeof value === 'number') {
    // Operators and functions check their own results (finite.ts); this catches the rest, such
    // as a literal 1e999, so no Infinity or NaN ever travels further.
    if (!Number.isFinite(value)) {
      throw new UnknownValueError(`unknown: ${where}: ${String(value)} is not a finite number`);
    }
    return Object.is(value, -0) ? 0 : value;
  }
  if (typeof value === 'boolean') return value;
  if (Array.isArray(value)) {
    if (depth >= MAX_VALUE_DEPTH) {
      throw new ExpressionError(`${where}: lists nested deeper than ${MAX_VALUE_DEPTH}`);
    }
    budget.items -= value.length;
    if (budget.items < 0) {
      throw new ExpressionError(`${where}: value holds over ${MAX_LIST_ITEMS} list items`);
    }
    const items: EvaluatedValue[] = [];
    for (let index = 0; index < value.length; index++) {
      items.push(checked(value[index], where, depth + 1, budget));
    }
    return items;
  }
  if (typeof value === 'function') {
    throw new ExpressionError(`${where}: a function is not a value; call it, e.g. len('abc')`);
  }
  if (value === undefined || value === null) throw new ExpressionError(`${where}: no value`);
  throw new ExpressionError(
    `${where}: a ${typeName(value)} is not a value (numbers, strings, booleans, lists)`,
  );
}

/** Python-like equality: lists compare item by item, everything else strictly (1 != '1'). */
export function valuesEqual(left: EvaluatedValue, right: EvaluatedValue): boolean {
  if (Array.isArray(left) || Array.isArray(right)) {
    if (!Array.isArray(left) || !Array.isArray(right) || left.length !== right.length) return false;
    return left.every((item, index) => valuesEqual(item, right[index] as EvaluatedValue));
  }
  return left === right;
}
