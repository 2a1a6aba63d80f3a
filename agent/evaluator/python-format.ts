// Python's printf-style formatting (`'cpu %s%%' % (100 - idle)`), the way opsbro's original
// expressions were written. Pure functions: no I/O, no state; the `%` operator calls pythonFormat
// when its left operand is a string.
//
// Supported: %s %r %a %d %i %u %x %X %o %c %e %E %f %F %g %G %%, flags `-+ #0`, width, precision and
// the ignored length modifiers h l L. Refused with an ExpressionError: `*` width/precision and
// `%(name)s` mapping keys (both let data choose the output's shape), unknown conversions such as %n,
// widths over MAX_FORMAT_WIDTH and precisions over MAX_FORMAT_PRECISION. A number that is not finite
// is an UnknownValueError (finite.ts), never 'inf' or 'nan' in the output.
import { ExpressionError, type UnknownValueError } from './errors.js';
import { nonFiniteError } from './finite.js';
import { MAX_FORMAT_PRECISION, MAX_FORMAT_WIDTH, MAX_STRING_CHARS } from './limits.js';
import type { EvaluatedValue } from './values.js';

/**
 * `format % args`. A list on the right is the argument tuple (Python's `(a, b)` arrives as a list);
 * any other value is the single argument.
 */
export function pythonFormat(format: string, args: EvaluatedValue): string {
  const queue = Array.isArray(args) ? args : [args];
  let next = 0;
  let output = '';
  let index = 0;
  while (index < format.length) {
    const percent = format.indexOf('%', index);
    if (percent < 0) {
      output += format.slice(index);
      break;
    }
    output += format.slice(index, percent);
    const directive = parseDirective(format, percent);
    index = directive.end;
    if (directive.conversion === '%') {
      output += '%';
    } else {
      if (next >= queue.length) throw new ExpressionError('% format: not enough arguments for format string');
      output += convert(directive, queue[next++] as EvaluatedValue);
    }
    // Checked as we go so a long format of wide directives never builds a huge string first.
    if (output.length > MAX_STRING_CHARS) {
      throw new ExpressionError(`% format: result is over the limit of ${MAX_STRING_CHARS} characters`);
    }
  }
  if (next < queue.length) {
    throw new ExpressionError('% format: not all arguments converted during string formatting');
  }
  return output;
}

/** Python's str(): what %s and templates show. */
export function pythonStr(value: EvaluatedValue): string {
  if (typeof value === 'string') return value;
  return pythonRepr(value);
}

/** Python's repr(): strings quoted, lists as [1, 'a']. */
export function pythonRepr(value: EvaluatedValue): string {
  if (typeof value === 'string') return quoteString(value);
  if (typeof value === 'boolean') return value ? 'True' : 'False';
  if (typeof value === 'number') return numberRepr(value);
  return `[${value.map(pythonRepr).join(', ')}]`;
}

interface Directive {
  flags: string;
  width: number;
  precision: number | undefined;
  conversion: string;
  /** Index just past the directive. */
  end: number;
  /** Where it starts, for error messages. */
  start: number;
}

const DIRECTIVE = /%(\()?([-+ #0]*)(\*|\d+)?(?:\.(\*|\d*))?[hlL]?(.?)/y;
const CONVERSIONS = new Set([
  's',
  'r',
  'a',
  'd',
  'i',
  'u',
  'x',
  'X',
  'o',
  'c',
  'e',
  'E',
  'f',
  'F',
  'g',
  'G',
  '%',
]);

function parseDirective(format: string, start: number): Directive {
  DIRECTIVE.lastIndex = start;
  const match = DIRECTIVE.exec(format);
  // The pattern can always match at a '%', the groups say what was there.
  const [text, mappingKey, flags = '', width, precision, conversion = ''] = match ?? ['%'];
  if (mappingKey !== undefined) {
    throw new ExpressionError(`% format: mapping keys like %(name)s are not supported (at index ${start})`);
  }
  if (width === '*' || precision === '*') {
    throw new ExpressionError(`% format: '*' width or precision is not supported (at index ${start})`);
  }
  if (conversion === '') throw new ExpressionError(`% format: incomplete format at index ${start}`);
  if (!CONVERSIONS.has(conversion)) {
    const code = conversion.charCodeAt(0).toString(16);
    throw new ExpressionError(
      `% format: unsupported format character '${conversion}' (0x${code}) at index ${start + text.length - 1}`,
    );
  }
  const widthValue = width === undefined ? 0 : Number(width);
  if (widthValue > MAX_FORMAT_WIDTH) {
    throw new ExpressionError(
      `% format: width ${width} is over the limit of ${MAX_FORMAT_WIDTH} (at index ${start})`,
    );
  }
  const precisionValue = precision === undefined ? undefined : Number(precision || '0');
  if (precisionValue !== undefined && precisionValue > MAX_FORMAT_PRECISION) {
    throw new ExpressionError(
      `% format: precision ${precision} is over the limit of ${MAX_FORMAT_PRECISION} (at index ${start})`,
    );
  }
  return { flags, width: widthValue, precision: precisionValue, conversion, end: start + text.length, start };
}

function convert(directive: Directive, value: EvaluatedValue): string {
  const { conversion, precision } = directive;
  switch (conversion) {
    case 's':
    case 'r':
    case 'a': {
      const text = conversion === 's' ? pythonStr(value) : pythonRepr(value);
      return pad(directive, '', '', precision === undefined ? text : text.slice(0, precision), false);
    }
    case 'c':
      return pad(directive, '', '', character(directive, value), false);
    case 'd':
    case 'i':
    case 'u':
      return formatInteger(directive, Math.trunc(realNumber(directive, value)), 10);
    case 'x':
    case 'X':
      return formatInteger(directive, integer(directive, value), 16);
    case 'o':
      return formatInteger(directive, integer(directive, value), 8);
    default:
      return formatReal(directive, realNumber(directive, value));
  }
}

function nonFinite(directive: Directive, value: number): UnknownValueError {
  return nonFiniteError(`% format: %${directive.conversion} of ${numberRepr(value)}`, value);
}

function describe(value: EvaluatedValue): string {
  if (Array.isArray(value)) return 'list';
  return `${typeof value} ${pythonRepr(value)}`;
}

function realNumber(directive: Directive, value: EvaluatedValue): number {
  if (typeof value === 'number') return value;
  if (typeof value === 'boolean') return value ? 1 : 0;
  throw new ExpressionError(`% format: %${directive.conversion} needs a number, got ${describe(value)}`);
}

function integer(directive: Directive, value: EvaluatedValue): number {
  const number = realNumber(directive, value);
  if (!Number.isInteger(number)) {
    throw new ExpressionError(
      `% format: %${directive.conversion} needs an integer, got ${numberRepr(number)}`,
    );
  }
  return number;
}

function character(directive: Directive, value: EvaluatedValue): string {
  if (typeof value === 'string' && [...value].length === 1) return value;
  if (typeof value === 'boolean') return value ? '\x01' : '\x00';
  if (typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= 0x10ffff) {
    return String.fromCodePoint(value);
  }
  throw new ExpressionError(`% format: %c needs one character or a code point, got ${describe(value)}`);
}

function signOf(directive: Directive, negative: boolean): string {
  if (negative) return '-';
  if (directive.flags.includes('+')) return '+';
  return directive.flags.includes(' ') ? ' ' : '';
}

/** Width handling shared by every conversion: `-` pads right, `0` pads numbers after sign and prefix. */
function pad(
  directive: Directive,
  sign: string,
  prefix: string,
  body: string,
  zeroPaddable: boolean,
): string {
  const text = sign + prefix + body;
  const missing = directive.width - text.length;
  if (missing <= 0) return text;
  if (directive.flags.includes('-')) return text + ' '.repeat(missing);
  if (zeroPaddable && directive.flags.includes('0')) return sign + prefix + '0'.repeat(missing) + body;
  return ' '.repeat(missing) + text;
}

function formatInteger(directive: Directive, value: number, radix: 8 | 10 | 16): string {
  if (!Number.isFinite(value)) throw nonFinite(directive, value);
  // BigInt prints every digit of large doubles, as Python's int does (no 1e+21).
  let digits = (value < 0 ? -BigInt(value) : BigInt(value)).toString(radix);
  if (directive.conversion === 'X') digits = digits.toUpperCase();
  if (directive.precision !== undefined && digits.length < directive.precision) {
    digits = '0'.repeat(directive.precision - digits.length) + digits;
  }
  let prefix = '';
  if (directive.flags.includes('#') && radix !== 10) {
    prefix = radix === 16 ? `0${directive.conversion}` : '0o';
  }
  return pad(directive, signOf(directive, value < 0), prefix, digits, true);
}

function formatReal(directive: Directive, value: number): string {
  const upper = directive.conversion === 'E' || directive.conversion === 'F' || directive.conversion === 'G';
  const negative = value < 0 || Object.is(value, -0);
  // Python would print 'inf' or 'nan': text a reader takes for a measurement. Values are finite
  // everywhere else in the evaluator (finite.ts), so only a direct caller can get here.
  if (!Number.isFinite(value)) throw nonFinite(directive, value);
  const precision = directive.precision ?? 6;
  const alternate = directive.flags.includes('#');
  const magnitude = Math.abs(value);
  let body: string;
  switch (directive.conversion.toLowerCase()) {
    case 'f':
      body = fixedNotation(magnitude, precision, alternate);
      break;
    case 'e':
      body = exponentNotation(magnitude, precision, alternate);
      break;
    default:
      body = generalNotation(magnitude, precision, alternate);
  }
  return pad(directive, signOf(directive, negative), '', upper ? body.toUpperCase() : body, true);
}

// --- exact decimal rounding -------------------------------------------------------------------
// JavaScript's toFixed/toExponential round ties away from zero (2.5 -> '3'); Python rounds the exact
// binary value half to even (2.5 -> '2'). Both work from the exact decimal expansion, which
// toPrecision(100) gives for every double that can hit a tie, so we round that ourselves.

/** `magnitude` = 0.DIGITS x 10^exponent, digits without leading or trailing zeros ('' for zero). */
interface Decimal {
  digits: string;
  exponent: number;
}

function parseDecimal(text: string): Decimal {
  const [mantissa = '', exponentText] = text.split('e');
  const [integerPart = '', fractionPart = ''] = mantissa.split('.');
  const all = integerPart + fractionPart;
  const leadingZeros = all.length - all.replace(/^0+/, '').length;
  const digits = all.slice(leadingZeros).replace(/0+$/, '');
  if (digits === '') return { digits: '', exponent: 0 };
  return { digits, exponent: integerPart.length + Number(exponentText ?? 0) - leadingZeros };
}

/** Keeps `keep` significant digits (may be 0 or less), rounding half to even. */
function roundDecimal(decimal: Decimal, keep: number): Decimal {
  const { digits, exponent } = decimal;
  if (keep >= digits.length) return decimal;
  if (keep < 0) return { digits: '', exponent: 0 };
  const kept = digits.slice(0, keep);
  const first = digits.charCodeAt(keep) - 48;
  const restIsZero = /^0*$/.test(digits.slice(keep + 1));
  const lastKept = keep > 0 ? digits.charCodeAt(keep - 1) - 48 : 0;
  const roundUp = first > 5 || (first === 5 && (!restIsZero || lastKept % 2 === 1));
  if (!roundUp) {
    const trimmed = kept.replace(/0+$/, '');
    return trimmed === '' ? { digits: '', exponent: 0 } : { digits: trimmed, exponent };
  }
  // Add one unit in the last kept place, carrying through nines.
  // `kept` has no leading zero, so a longer result means the carry reached a new leading digit.
  const incremented = (BigInt(kept === '' ? '0' : kept) + 1n).toString();
  const carry = incremented.length > kept.length ? 1 : 0;
  return { digits: incremented.replace(/0+$/, ''), exponent: exponent + carry };
}

function exactDecimal(magnitude: number): Decimal {
  // From 2^53 on every double is an integer, and BigInt prints all its digits (toPrecision stops at 100).
  if (magnitude >= 2 ** 53) return parseDecimal(BigInt(magnitude).toString());
  return parseDecimal(magnitude.toPrecision(100));
}

function fixedNotation(magnitude: number, precision: number, alternate: boolean): string {
  const exact = exactDecimal(magnitude);
  const rounded = roundDecimal(exact, exact.exponent + precision);
  const { digits, exponent } = rounded;
  const integerPart = exponent > 0 ? digits.slice(0, exponent).padEnd(exponent, '0') : '0';
  const fraction = (exponent >= 0 ? digits.slice(exponent) : '0'.repeat(-exponent) + digits)
    .padEnd(precision, '0')
    .slice(0, precision);
  if (precision === 0) return alternate ? `${integerPart}.` : integerPart;
  return `${integerPart}.${fraction}`;
}

/** d.ddde+XX with `precision` digits after the point; returns the exponent too (for %g). */
function exponentParts(magnitude: number, precision: number): { mantissa: string; exponent: number } {
  const rounded = roundDecimal(exactDecimal(magnitude), precision + 1);
  const digits = rounded.digits.padEnd(precision + 1, '0');
  const exponent = rounded.digits === '' ? 0 : rounded.exponent - 1;
  const mantissa = precision > 0 ? `${digits[0]}.${digits.slice(1)}` : (digits[0] ?? '0');
  return { mantissa, exponent };
}

function exponentSuffix(exponent: number): string {
  const sign = exponent < 0 ? '-' : '+';
  return `e${sign}${String(Math.abs(exponent)).padStart(2, '0')}`;
}

function exponentNotation(magnitude: number, precision: number, alternate: boolean): string {
  const { mantissa, exponent } = exponentParts(magnitude, precision);
  const point = alternate && precision === 0 ? '.' : '';
  return `${mantissa}${point}${exponentSuffix(exponent)}`;
}

/** %g: fixed when -4 <= exponent < precision, else exponent form; trailing zeros dropped unless '#'. */
function generalNotation(magnitude: number, precision: number, alternate: boolean): string {
  const significant = precision === 0 ? 1 : precision;
  const { exponent } = exponentParts(magnitude, significant - 1);
  let text: string;
  if (exponent >= -4 && exponent < significant) {
    text = fixedNotation(magnitude, significant - 1 - exponent, alternate);
    if (!alternate && text.includes('.')) text = text.replace(/\.?0+$/, '');
  } else {
    const { mantissa } = exponentParts(magnitude, significant - 1);
    let shown = mantissa;
    if (!alternate && shown.includes('.')) shown = shown.replace(/\.?0+$/, '');
    text = `${shown}${exponentSuffix(exponent)}`;
  }
  return text;
}

/** Python's repr of a number: integers in full, other floats shortest round-trip, e-notation below 1e-4. */
function numberRepr(value: number): string {
  if (Number.isNaN(value)) return 'nan';
  if (!Number.isFinite(value)) return value > 0 ? 'inf' : '-inf';
  if (Number.isInteger(value)) return BigInt(value).toString();
  const sign = value < 0 ? '-' : '';
  // String() gives the shortest digits that round-trip, exactly like Python's repr; only the
  // switch to e-notation differs (Python: exponent < -4 or >= 16).
  const { digits, exponent } = parseDecimal(String(Math.abs(value)));
  const scientific = exponent - 1;
  if (scientific < -4 || scientific >= 16) {
    const mantissa = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits;
    return `${sign}${mantissa}${exponentSuffix(scientific)}`;
  }
  if (exponent <= 0) return `${sign}0.${'0'.repeat(-exponent)}${digits}`;
  return `${sign}${digits.slice(0, exponent).padEnd(exponent, '0')}.${digits.slice(exponent) || '0'}`;
}

function quoteString(text: string): string {
  const quote = text.includes("'") && !text.includes('"') ? '"' : "'";
  let body = '';
  for (const char of text) {
    if (char === '\\' || char === quote) body += `\\${char}`;
    else if (char === '\n') body += '\\n';
    else if (char === '\r') body += '\\r';
    else if (char === '\t') body += '\\t';
    else if (char < ' ' || char === '\x7f') body += `\\x${char.charCodeAt(0).toString(16).padStart(2, '0')}`;
    else body += char;
  }
  return quote + body + quote;
}
