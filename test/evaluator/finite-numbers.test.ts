// Issue 10: `9^9^9`, `log(0)`, `(-1)^0.5` gave null/NaN/'inf' where the docs promise a number, a
// string or a boolean. Every way a number can leave the finite doubles ends the evaluation as
// unknown, with a message naming the step; nothing infinite or NaN is ever a value.
import { describe, expect, it } from 'vitest';
import { Evaluator, ExpressionError, UnknownValueError } from '../../agent/evaluator/index.js';
import { fakeProviders } from './helpers.js';

const evaluator = new Evaluator(
  fakeProviders({
    collectors: {
      stats: { ratio: Number.NaN, peak: Number.POSITIVE_INFINITY, list: [1, Number.NaN], fine: 2 },
    },
  }),
);

async function failure(expression: string): Promise<Error> {
  const error = await evaluator.evaluate(expression).then(
    (value) => new Error(`evaluated to ${JSON.stringify(value)} (${String(value)})`),
    (caught: unknown) => caught as Error,
  );
  return error;
}

describe('numbers stay finite', () => {
  it.each([
    ['9^9^9', 'unknown: 9 ^ 387420489 is infinite (numbers stay within ±1.8e308)'],
    ['log(0)', 'unknown: log(0) is infinite'],
    ['ln(0)', 'unknown: ln(0) is infinite'],
    ['(-1)^0.5', 'unknown: -1 ^ 0.5 is not a number (it has no real value)'],
    ['sqrt(-1)', 'unknown: sqrt(-1) is not a number'],
    ['acos(2)', 'unknown: acos(2) is not a number'],
    ['exp(1000)', 'unknown: exp(1000) is infinite'],
    ['atanh(1)', 'unknown: atanh(1) is infinite'],
    ['cosh(1000)', 'unknown: cosh(1000) is infinite'],
    ['1e308 * 10', 'unknown: 1e+308 * 10 is infinite'],
    ['1e308 / 1e-308', 'unknown: 1e+308 / 1e-308 is infinite'],
    ['1e308 + 1e308', 'unknown: 1e+308 + 1e+308 is infinite'],
    ['-1e308 - 1e308', 'unknown: -1e+308 - 1e+308 is infinite'],
    ['0 ^ -1', 'unknown: 0 ^ -1 is infinite'],
    ['sum(1e308, 1e308)', 'unknown: sum() of these numbers is infinite'],
    ["float('inf')", "unknown: float('inf') is infinite"],
    ["float('-infinity')", "unknown: float('-infinity') is infinite"],
    ["float('nan')", "unknown: float('nan') is not a number"],
    ["float('1e999')", "unknown: float('1e999') is infinite"],
    [`int('${'9'.repeat(400)}')`, `unknown: int('${'9'.repeat(36)}...) is infinite`],
    ["+'1e999'", "unknown: +'1e999' is infinite"],
    ['1e999', 'unknown: the expression: Infinity is not a finite number'],
    ['1e999 > 1', "unknown: operator '>': Infinity is not a finite number"],
    ["'%f' % (9^9^9)", 'unknown: 9 ^ 387420489 is infinite'],
    ['{collector.stats.ratio}', 'unknown: collector.stats.ratio is not a number'],
    ['{collector.stats.peak} > 0', 'unknown: collector.stats.peak is infinite'],
    ['len({collector.stats.list})', 'unknown: collector.stats.list.1 is not a number'],
  ])('%s is unknown: %s', async (expression, message) => {
    const error = await failure(expression);
    expect(error).toBeInstanceOf(UnknownValueError);
    expect(error.message).toContain(message);
  });

  it('still computes everything that stays finite', async () => {
    expect(await evaluator.evaluate('2^1023 * 1.5 > 1e307')).toBe(true);
    expect(await evaluator.evaluate('log(1)')).toBe(0);
    expect(await evaluator.evaluate('4^0.5')).toBe(2);
    expect(await evaluator.evaluate('{collector.stats.fine} * 2')).toBe(4);
    expect(await evaluator.evaluate("float('-1.5e3')")).toBe(-1500);
    expect(await evaluator.evaluate("'%f' % 1e308")).toMatch(/^1000000000000000010979/);
    // A default is used when the value is missing, not when it is NaN: NaN is unknown, not absent.
    await expect(evaluator.evaluate('{collector.stats.ratio|0}')).rejects.toBeInstanceOf(UnknownValueError);
  });

  it('keeps text that is no number an expression error, as int() and float() do', async () => {
    await expect(evaluator.evaluate("+'abc'")).rejects.toThrow(
      new ExpressionError("operator '+' needs a number or a string holding one, got 'abc' (in: +'abc')"),
    );
  });
});
