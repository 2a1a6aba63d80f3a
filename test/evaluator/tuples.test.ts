// Python tuples: `(a, b)` outside a call's argument list becomes a list, so `'%d %s' % (a, b)` and
// `x in (1, 2)` work; strings, calls and nesting are left alone.
import { describe, expect, it } from 'vitest';
import { Evaluator, ExpressionError } from '../../agent/evaluator/index.js';
import { tuplesToLists } from '../../agent/evaluator/tuples.js';
import { fakeProviders } from './helpers.js';

describe('tuplesToLists', () => {
  it.each([
    ["'%d %s' % (a, b)", "'%d %s' % [a, b]"],
    ['x in (1, 2, 3)', 'x in [1, 2, 3]'],
    ['not (1, 2)', 'not [1, 2]'],
    ['(a,)', '[a ]'],
    ['()', '[]'],
    ['f(a, b)', 'f(a, b)'],
    ['f (a, b)', 'f (a, b)'],
    ['(1 + 2) * 3', '(1 + 2) * 3'],
    ['f(a, (b, c))', 'f(a, [b, c])'],
    ['((1, 2), 3)', '[[1, 2], 3]'],
    ['[(1, 2)]', '[[1, 2]]'],
    ['(max(1, 2))', '(max(1, 2))'],
    ["('a, b')", "('a, b')"],
    ['("x(", ")", 1)', '["x(", ")", 1]'],
    ["('it\\'s, (', 2)", "['it\\'s, (', 2]"],
    ['g(1)(2, 3)', 'g(1)(2, 3)'],
    ['(1 /* a, b */)', '(1 /* a, b */)'],
  ])('%s -> %s', (input, output) => {
    expect(tuplesToLists(input)).toBe(output);
  });

  it('refuses brackets nested deeper than 64', () => {
    expect(() => tuplesToLists(`${'('.repeat(65)}1${')'.repeat(65)}`)).toThrow(
      'brackets nested deeper than 64',
    );
    expect(tuplesToLists(`${'('.repeat(64)}1${')'.repeat(64)}`)).toHaveLength(129);
  });
});

describe('tuples in expressions', () => {
  const evaluator = new Evaluator(
    fakeProviders({ collectors: { load: { one: 0.5, five: 1.25 }, redis: { role: 'slave' } } }),
  );

  it.each([
    ["'%d %.2f %s %%' % (7, 2.345, 'x')", '7 2.35 x %'],
    ["'load %s/%s' % ({collector.load.one}, {collector.load.five})", 'load 0.5/1.25'],
    ["'%s' % ('a, (b)',)", 'a, (b)'],
    ["{collector.redis.role} in ('master', 'slave')", true],
    ["'x' in ('a', 'b')", false],
    ['max(1, (2 + 3)) * 2', 10],
    ['(1, 2) == [1, 2]', true],
  ])('%s is %j', async (expression, expected) => {
    expect(await evaluator.evaluate(expression)).toEqual(expected);
  });

  it('reports a bad tuple as a syntax error, not a crash', async () => {
    await expect(evaluator.evaluate("'%s' % (1,,)")).rejects.toBeInstanceOf(ExpressionError);
  });
});
