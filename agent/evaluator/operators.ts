// The operators expressions use, replacing expr-eval's own. Each checks its operands are values
// (a function name or an object never gets further than here) and keeps Python's meaning where
// opsbro's expressions relied on it: `%` formats when its left side is a string, `+` joins strings
// and lists, `in` looks into lists and strings, `==` compares lists by content, and a division by
// zero is an error rather than Infinity. Every number an operator computes is finite, or the
// evaluation ends as unknown (finite.ts): 9^9^9 is not Infinity, (-1)^0.5 not NaN.
import { ExpressionError } from './errors.js';
import { finiteNumber } from './finite.js';
import { pythonFormat, pythonRepr, pythonStr } from './python-format.js';
import { asEvaluatedValue, typeName, valuesEqual, type EvaluatedValue } from './values.js';

export type OperatorFunction = (...operands: unknown[]) => unknown;

function operand(value: unknown, operator: string): EvaluatedValue {
  return asEvaluatedValue(value, `operator '${operator}'`);
}

function unsupported(operator: string, left: unknown, right?: unknown): ExpressionError {
  const types = right === undefined ? typeName(left) : `${typeName(left)} and ${typeName(right)}`;
  return new ExpressionError(`operator '${operator}' does not apply to ${types}`);
}

/** Numbers for arithmetic; booleans count as 0 and 1, as in Python. */
function numeric(value: EvaluatedValue, operator: string): number {
  if (typeof value === 'number') return value;
  if (typeof value === 'boolean') return value ? 1 : 0;
  throw unsupported(operator, value);
}

function isNumeric(value: EvaluatedValue): boolean {
  return typeof value === 'number' || typeof value === 'boolean';
}

function arithmetic(operator: string, compute: (left: number, right: number) => number): OperatorFunction {
  return (a, b) => {
    const left = operand(a, operator);
    const right = operand(b, operator);
    if (!isNumeric(left) || !isNumeric(right)) throw unsupported(operator, left, right);
    const [x, y] = [numeric(left, operator), numeric(right, operator)];
    return finiteNumber(compute(x, y), () => `${String(x)} ${operator} ${String(y)}`);
  };
}

function nonZero(divisor: number, operator: string): number {
  if (divisor === 0) throw new ExpressionError(`operator '${operator}': division by zero`);
  return divisor;
}

function add(a: unknown, b: unknown): EvaluatedValue {
  const left = operand(a, '+');
  const right = operand(b, '+');
  if (typeof left === 'string' && typeof right === 'string') return operand(left + right, '+');
  if (Array.isArray(left) && Array.isArray(right)) return operand([...left, ...right], '+');
  if (isNumeric(left) && isNumeric(right)) {
    const [x, y] = [numeric(left, '+'), numeric(right, '+')];
    return finiteNumber(x + y, () => `${String(x)} + ${String(y)}`);
  }
  throw unsupported('+', left, right);
}

/** `'fmt' % args` formats (Python); between numbers it is the remainder (sign of the left side). */
function remainderOrFormat(a: unknown, b: unknown): EvaluatedValue {
  const left = operand(a, '%');
  const right = operand(b, '%');
  if (typeof left === 'string') return pythonFormat(left, right);
  if (!isNumeric(left) || !isNumeric(right)) throw unsupported('%', left, right);
  return numeric(left, '%') % nonZero(numeric(right, '%'), '%');
}

/** expr-eval's `||`: joins lists, or the text of any two values. */
function concatenate(a: unknown, b: unknown): EvaluatedValue {
  const left = operand(a, '||');
  const right = operand(b, '||');
  if (Array.isArray(left) && Array.isArray(right)) return operand([...left, ...right], '||');
  return operand(pythonStr(left) + pythonStr(right), '||');
}

/** Ordering needs two numbers or two strings: comparing '10' with 9 is a mistake worth reporting. */
function comparison(operator: string, compare: (left: number | string, right: number | string) => boolean) {
  return (a: unknown, b: unknown): boolean => {
    const left = operand(a, operator);
    const right = operand(b, operator);
    if (typeof left === 'string' && typeof right === 'string') return compare(left, right);
    if (isNumeric(left) && isNumeric(right)) {
      return compare(numeric(left, operator), numeric(right, operator));
    }
    throw unsupported(operator, left, right);
  };
}

function contains(a: unknown, b: unknown): boolean {
  const needle = operand(a, 'in');
  const haystack = operand(b, 'in');
  if (Array.isArray(haystack)) return haystack.some((item) => valuesEqual(item, needle));
  if (typeof haystack === 'string') {
    if (typeof needle === 'string') return haystack.includes(needle);
    throw new ExpressionError(
      `operator 'in' looks for a string in a string, got ${typeName(needle)} on its left`,
    );
  }
  throw new ExpressionError(`operator 'in' needs a list or a string on its right, got ${typeName(haystack)}`);
}

/** `list[i]` and `string[i]`; negative indexes count from the end, as in Python. */
function index(a: unknown, b: unknown): EvaluatedValue {
  const container = operand(a, '[]');
  const position = operand(b, '[]');
  if (!Array.isArray(container) && typeof container !== 'string') throw unsupported('[]', container);
  if (typeof position !== 'number' || !Number.isInteger(position)) {
    throw new ExpressionError(`operator '[]' needs a whole number index, got ${typeName(position)}`);
  }
  const resolved = position < 0 ? container.length + position : position;
  const item = container[resolved];
  if (resolved < 0 || item === undefined) {
    throw new ExpressionError(`index ${position} is out of range (length ${container.length})`);
  }
  return item;
}

export function binaryOperators(): Record<string, OperatorFunction> {
  return {
    '+': add,
    '-': arithmetic('-', (left, right) => left - right),
    '*': arithmetic('*', (left, right) => left * right),
    '/': arithmetic('/', (left, right) => left / nonZero(right, '/')),
    '%': remainderOrFormat,
    '^': arithmetic('^', (left, right) => left ** right),
    '||': concatenate,
    '==': (a, b) => valuesEqual(operand(a, '=='), operand(b, '==')),
    '!=': (a, b) => !valuesEqual(operand(a, '!='), operand(b, '!=')),
    '<': comparison('<', (left, right) => left < right),
    '>': comparison('>', (left, right) => left > right),
    '<=': comparison('<=', (left, right) => left <= right),
    '>=': comparison('>=', (left, right) => left >= right),
    // expr-eval evaluates `and`/`or` itself (short-circuit); these entries make the words operators.
    and: (a, b) => Boolean(operand(a, 'and')) && Boolean(operand(b, 'and')),
    or: (a, b) => Boolean(operand(a, 'or')) || Boolean(operand(b, 'or')),
    in: contains,
    '[': index,
  };
}

/** Prefix operators written without parentheses (`abs x`, `not x`); all take one number unless noted. */
const MATH_OPERATORS: Record<string, (value: number) => number> = {
  sin: Math.sin,
  cos: Math.cos,
  tan: Math.tan,
  asin: Math.asin,
  acos: Math.acos,
  atan: Math.atan,
  sinh: Math.sinh,
  cosh: Math.cosh,
  tanh: Math.tanh,
  asinh: Math.asinh,
  acosh: Math.acosh,
  atanh: Math.atanh,
  sqrt: Math.sqrt,
  cbrt: Math.cbrt,
  log: Math.log,
  ln: Math.log,
  log2: Math.log2,
  lg: Math.log10,
  log10: Math.log10,
  log1p: Math.log1p,
  exp: Math.exp,
  expm1: Math.expm1,
  abs: Math.abs,
  ceil: Math.ceil,
  floor: Math.floor,
  round: Math.round,
  trunc: Math.trunc,
  sign: Math.sign,
  '-': (value) => -value,
};

/** `n!`: whole numbers only, and only as far as a double holds the result. */
function factorial(value: number): number {
  if (!Number.isInteger(value) || value < 0 || value > 170) {
    throw new ExpressionError(`operator '!' needs a whole number from 0 to 170, got ${value}`);
  }
  let result = 1;
  for (let factor = 2; factor <= value; factor++) result *= factor;
  return result;
}

/** Unary `+` converts text to a number, as expr-eval's did; text that holds none is a mistake. */
function toNumber(value: unknown): number {
  const number = operand(value, '+');
  if (typeof number !== 'string') return numeric(number, '+');
  const converted = Number(number);
  if (Number.isNaN(converted)) {
    throw new ExpressionError(
      `operator '+' needs a number or a string holding one, got ${pythonRepr(number)}`,
    );
  }
  return finiteNumber(converted, () => `+${pythonRepr(number)}`);
}

export function unaryOperators(): Record<string, OperatorFunction> {
  const operators: Record<string, OperatorFunction> = {};
  for (const [name, compute] of Object.entries(MATH_OPERATORS)) {
    operators[name] = (value) => {
      const number = numeric(operand(value, name), name);
      // log(0) is -Infinity, sqrt(-1) and acos(2) NaN, exp(1000) Infinity.
      return finiteNumber(compute(number), () => `${name}(${String(number)})`);
    };
  }
  operators['!'] = (value) => factorial(numeric(operand(value, '!'), '!'));
  operators['+'] = toNumber;
  operators.not = (value) => !operand(value, 'not');
  operators.length = (value) => {
    const measured = operand(value, 'length');
    if (typeof measured === 'string' || Array.isArray(measured)) return measured.length;
    throw unsupported('length', measured);
  };
  return operators;
}
