// The number the metric listeners read by hand on their fast paths: `[+-]digits[.digits]`, the
// way nearly every client writes values and timestamps. Anything else (exponents, NaN, 16 digits
// or more) is left to the parsers' general rules, which decide it as they always did.

/** Powers of ten a double holds exactly: a mantissa under 2^53 divided by one is correctly rounded. */
const EXACT_POWERS_OF_TEN = Array.from({ length: 23 }, (_, i) => 10 ** i);
export const ZERO = 0x30;
export const NINE = 0x39;
export const PLUS = 0x2b;
export const MINUS = 0x2d;
export const DOT = 0x2e;

/** Where the last readPlainDecimal stopped (at its terminator, or `stop`); -1: not a plain decimal. */
export const plainDecimal = { end: -1 };

/**
 * The plain decimal in text[start, stop) up to the first `terminator` character, as Number() reads
 * it; NaN (and plainDecimal.end -1) for anything else. At most 15 significant digits, so the
 * integer mantissa and the power of ten are both exact and their quotient is the correctly rounded
 * value (Clinger's fast path, the one strtod takes first).
 */
export function readPlainDecimal(text: string, start: number, stop: number, terminator: number): number {
  plainDecimal.end = -1;
  let i = start;
  const first = text.charCodeAt(i);
  const negative = first === MINUS;
  if (negative || first === PLUS) i++;
  let mantissa = 0;
  let digits = 0;
  let fraction = -1;
  for (; i < stop; i++) {
    const code = text.charCodeAt(i);
    if (code >= ZERO && code <= NINE) {
      mantissa = mantissa * 10 + (code - ZERO);
      digits++;
      if (fraction >= 0) fraction++;
    } else if (code === DOT && fraction < 0) {
      fraction = 0;
    } else if (code === terminator) {
      break;
    } else {
      return NaN;
    }
  }
  if (digits === 0 || digits > 15) return NaN;
  plainDecimal.end = i;
  const magnitude = fraction > 0 ? mantissa / EXACT_POWERS_OF_TEN[fraction]! : mantissa;
  return negative ? -magnitude : magnitude;
}
