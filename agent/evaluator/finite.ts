// Numbers stay finite. A double overflows to Infinity (9^9^9, exp(1000)) or has no real value
// (NaN: (-1)^0.5, sqrt(-1)); JSON shows both as null and Python's formatting as 'inf'/'nan', so a
// check comparing them would silently be wrong. Every operator and function that computes a number
// passes it through finiteNumber, and values.ts refuses any that arrive from elsewhere (collector
// data, literals such as 1e999): the evaluation ends as "unknown", with a message naming the step.
import { UnknownValueError } from './errors.js';

/** The largest finite double, as operators read it in messages. */
const LIMIT_TEXT = '1.8e308';

/** "unknown: 9 ^ 387420489 is infinite ..." for a value that is not a finite number. */
export function nonFiniteError(computation: string, value: number): UnknownValueError {
  const problem = Number.isNaN(value)
    ? 'is not a number (it has no real value)'
    : `is infinite (numbers stay within ±${LIMIT_TEXT})`;
  return new UnknownValueError(`unknown: ${computation} ${problem}`);
}

/** `value` when finite, else an UnknownValueError naming the computation (built only then). */
export function finiteNumber(value: number, computation: () => string): number {
  if (Number.isFinite(value)) return value;
  throw nonFiniteError(computation(), value);
}
