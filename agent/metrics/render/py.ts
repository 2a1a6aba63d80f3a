// Python arithmetic and number formatting the render API must reproduce: graphite-web builds series
// names with `str()`, `%g` and `%d`, rounds with `round()`, and divides with floor semantics. A
// Grafana dashboard keys its series on those names, so "scale(a.b,2)" must not come out as
// "scale(a.b,2.0)" or "scale(a.b,2.000000)".

/** Python's `str(float)` (= `repr`): shortest round-trip digits, `1.0` for integral values,
 * scientific below 1e-4 and from 1e16. */
export function pyFloatStr(value: number): string {
  if (Number.isNaN(value)) return 'nan';
  if (value === Infinity) return 'inf';
  if (value === -Infinity) return '-inf';
  if (value === 0) return Object.is(value, -0) ? '-0.0' : '0.0';
  const { negative, digits, exponent } = decompose(value.toExponential());
  const sign = negative ? '-' : '';
  if (exponent >= -4 && exponent < 16) {
    return sign + placeDecimalPoint(digits, exponent);
  }
  const mantissa = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits;
  return `${sign}${mantissa}e${exponent < 0 ? '-' : '+'}${String(Math.abs(exponent)).padStart(2, '0')}`;
}

/** Python's `str(x)` for a value that Python would hold as an int when integral and a float
 * otherwise (literals parsed from targets, defaults). */
export function pyNumberStr(value: number, isFloat: boolean): string {
  if (!isFloat && Number.isInteger(value)) return String(value);
  return pyFloatStr(value);
}

/** Python's `'%g' % value`: 6 significant digits, trailing zeros dropped, scientific when the
 * exponent is below -4 or at least 6. */
export function pyFormatG(value: number): string {
  if (Number.isNaN(value)) return 'nan';
  if (value === Infinity) return 'inf';
  if (value === -Infinity) return '-inf';
  if (value === 0) return Object.is(value, -0) ? '-0' : '0';
  const rounded = value.toExponential(5);
  const { exponent } = decompose(rounded);
  if (exponent < -4 || exponent >= 6) {
    const mantissa = stripZeros(rounded.slice(0, rounded.indexOf('e')));
    return `${mantissa}e${exponent < 0 ? '-' : '+'}${String(Math.abs(exponent)).padStart(2, '0')}`;
  }
  return stripZeros(value.toFixed(5 - exponent));
}

/** Python's `'%d' % value`: truncation toward zero. */
export function pyFormatD(value: number): string {
  if (!Number.isFinite(value)) throw new Error(`cannot format ${String(value)} as an integer`);
  const truncated = Math.trunc(value);
  return String(Object.is(truncated, -0) ? 0 : truncated);
}

/** Python's `round(value, digits)`: the exact binary value rounded half to even. */
export function pyRound(value: number, digits: number): number {
  if (!Number.isFinite(value) || Math.abs(value) >= 2 ** 52) return value;
  const negative = value < 0;
  // toFixed(100) is the exact decimal expansion for every double we can meet here (|x| < 2^52,
  // fraction bits end well before 100 digits unless the value is tiny, and tiny rounds to 0).
  const exact = Math.abs(value).toFixed(100);
  const point = exact.indexOf('.');
  const kept = exact.slice(0, point + 1 + digits);
  const next = exact.charCodeAt(point + 1 + digits) - 48;
  const rest = exact.slice(point + 2 + digits);
  let roundUp = next > 5 || (next === 5 && /[1-9]/.test(rest));
  if (next === 5 && !/[1-9]/.test(rest)) {
    const lastDigit = kept.replace('.', '').slice(-1);
    roundUp = Number(lastDigit) % 2 === 1;
  }
  let result = Number(kept.endsWith('.') ? kept.slice(0, -1) : kept);
  if (roundUp) result += 10 ** -digits;
  // Adding 10^-digits can land a hair off the decimal; re-round the decimal text.
  result = Number(result.toFixed(digits));
  return negative ? -result : result;
}

/** Python's `a % b` for numbers: the result has the sign of the divisor. */
export function pyMod(a: number, b: number): number {
  const r = a % b;
  return r !== 0 && r < 0 !== b < 0 ? r + b : r;
}

/** Python's `a // b` for numbers. */
export function pyFloorDiv(a: number, b: number): number {
  return Math.floor(a / b);
}

/** Python's `int(x)` on a float: truncation toward zero. */
export function pyInt(value: number): number {
  return Math.trunc(value);
}

function decompose(exponential: string): { negative: boolean; digits: string; exponent: number } {
  const match = /^(-?)(\d)(?:\.(\d+))?e([+-]\d+)$/.exec(exponential);
  if (!match) throw new Error(`unexpected number text ${exponential}`);
  return {
    negative: match[1] === '-',
    digits: (match[2] ?? '') + (match[3] ?? ''),
    exponent: Number(match[4]),
  };
}

function placeDecimalPoint(digits: string, exponent: number): string {
  if (exponent < 0) return `0.${'0'.repeat(-exponent - 1)}${digits}`;
  const whole = digits.slice(0, exponent + 1).padEnd(exponent + 1, '0');
  const fraction = digits.slice(exponent + 1);
  return `${whole}.${fraction || '0'}`;
}

function stripZeros(text: string): string {
  if (!text.includes('.')) return text;
  return text.replace(/0+$/, '').replace(/\.$/, '');
}
