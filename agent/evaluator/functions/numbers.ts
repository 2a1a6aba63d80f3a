// Aggregates and conversions: min, max, sum, len, and Python's int(), float(), str() for
// collector values that arrive as text. Results stay finite (finite.ts): a sum that overflows, or
// float('inf'), float('nan') and int() of 400 digits, is unknown rather than Infinity or NaN.
import { shorten } from '../errors.js';
import { finiteNumber } from '../finite.js';
import { pythonRepr, pythonStr } from '../python-format.js';
import type { EvaluatedValue } from '../values.js';
import type { Arguments } from './arguments.js';
import type { EvaluatorFunction } from './types.js';

/** `f(list)` or `f(a, b, ...)`: the values to aggregate. */
function aggregated(args: Arguments): EvaluatedValue[] {
  const first = args.value(0);
  return args.length === 1 && Array.isArray(first) ? first : args.all();
}

function extreme(args: Arguments, pick: (a: number | string, b: number | string) => boolean): EvaluatedValue {
  const values = aggregated(args);
  const numbers = values.every((value) => typeof value === 'number');
  const strings = values.every((value) => typeof value === 'string');
  if (values.length === 0 || !(numbers || strings)) {
    throw args.error(0, 'must be numbers, or strings, given as arguments or one list');
  }
  return (values as Array<number | string>).reduce((best, value) => (pick(value, best) ? value : best));
}

const INTEGER_TEXT = /^\s*[-+]?\d+\s*$/;
const FLOAT_TEXT = /^\s*[-+]?((\d+\.?\d*|\.\d+)([eE][-+]?\d+)?|inf|infinity|nan)\s*$/i;

export const NUMBER_FUNCTIONS: readonly EvaluatorFunction[] = [
  {
    kind: 'plain',
    name: 'min',
    signature: 'min(values...)',
    doc: 'The smallest of the values, given as arguments or as one list.',
    call: (args) => extreme(args, (value, best) => value < best),
  },
  {
    kind: 'plain',
    name: 'max',
    signature: 'max(values...)',
    doc: 'The largest of the values, given as arguments or as one list.',
    call: (args) => extreme(args, (value, best) => value > best),
  },
  {
    kind: 'plain',
    name: 'sum',
    signature: 'sum(values...)',
    doc: 'The sum of the numbers, given as arguments or as one list (0 for an empty list).',
    call(args) {
      const total = aggregated(args).reduce<number>((sum, value) => {
        if (typeof value === 'number') return sum + value;
        if (typeof value === 'boolean') return sum + (value ? 1 : 0);
        throw args.error(0, 'must be numbers');
      }, 0);
      return finiteNumber(total, () => 'sum() of these numbers');
    },
  },
  {
    kind: 'plain',
    name: 'len',
    signature: 'len(value)',
    doc: 'The number of characters of a string or items of a list.',
    call(args) {
      const value = args.value(0);
      if (typeof value === 'string' || Array.isArray(value)) return value.length;
      throw args.error(0, 'must be a string or a list');
    },
  },
  {
    kind: 'plain',
    name: 'int',
    signature: 'int(value)',
    doc: "The value as a whole number: int('42') is 42, int(4.7) is 4, int(True) is 1.",
    call(args) {
      const value = args.value(0);
      if (typeof value === 'boolean') return value ? 1 : 0;
      if (typeof value === 'number' && Number.isFinite(value)) return Math.trunc(value);
      if (typeof value === 'string' && INTEGER_TEXT.test(value)) {
        return finiteNumber(Number(value.trim()), () => `int(${shorten(pythonRepr(value), 40)})`);
      }
      throw args.error(0, 'must be a number or a string of digits');
    },
  },
  {
    kind: 'plain',
    name: 'float',
    signature: 'float(value)',
    doc: "The value as a number: float('97.5') is 97.5.",
    call(args) {
      const value = args.value(0);
      if (typeof value === 'boolean') return value ? 1 : 0;
      if (typeof value === 'number') return value;
      if (typeof value === 'string' && FLOAT_TEXT.test(value)) {
        const text = value
          .trim()
          .toLowerCase()
          .replace(/^([-+]?)inf(inity)?$/, '$1Infinity');
        const number = /nan$/.test(text) ? Number.NaN : Number(text);
        return finiteNumber(number, () => `float(${shorten(pythonRepr(value), 40)})`);
      }
      throw args.error(0, 'must be a number or a string holding one');
    },
  },
  {
    kind: 'plain',
    name: 'str',
    signature: 'str(value)',
    doc: "The value as text, as Python shows it: str(True) is 'True', str(2.5) is '2.5'.",
    call: (args) => pythonStr(args.value(0)),
  },
];
