// Operators and constants: arithmetic, comparisons, and/or/not, in, the ternary, `%` as format or
// remainder, Python's True/False/None, and the errors for mixing types.
import { describe, expect, it } from 'vitest';
import { Evaluator, ExpressionError } from '../../agent/evaluator/index.js';
import { fakeProviders } from './helpers.js';

const evaluator = new Evaluator(
  fakeProviders({ collectors: { m: { used: 30, total: 120, name: 'db', list: [1, 2] } } }),
);

describe('operators', () => {
  it.each([
    ['1 + 2 * 3 - 4 / 2', 5],
    ['2 ^ 10', 1024],
    ['7 % 3', 1],
    ['-7 % 3', -1],
    ['{collector.m.used} / {collector.m.total} * 100', 25],
    ["'a' + 'b'", 'ab'],
    ['[1] + [2, 3]', [1, 2, 3]],
    ["'n=' || 3", 'n=3'],
    ['True + 1', 2],
    ['3 > 2 and 2 >= 2 and 1 < 2 and 1 <= 1', true],
    ["'abc' < 'abd'", true],
    ['1 == 1 and 1 != 2', true],
    ["1 == '1'", false],
    ['[1, [2]] == [1, [2]]', true],
    ['not True or False', false],
    ['not 0', true],
    ['True and None', false],
    ['2 in [1, 2]', true],
    ["'b' in 'abc'", true],
    ["{collector.m.name} in ['db', 'web']", true],
    ['1 in {collector.m.list}', true],
    ["{collector.m.used} > 50 ? 'high' : 'low'", 'low'],
    ['[10, 20, 30][1]', 20],
    ['[10, 20, 30][-1]', 30],
    ["'abc'[0]", 'a'],
    ['abs -3 + floor 2.7', 5],
    ['sqrt(16) + round(2.5)', 7],
    ["length 'abc'", 3],
    ['5!', 120],
    ['PI > 3.14', true],
    ['0x1f + 0b11', 34],
    ["'%s%%' % (100 - 97.5)", '2.5%'],
    ['/* a comment */ 1', 1],
  ])('%s is %j', async (expression, expected) => {
    expect(await evaluator.evaluate(expression)).toEqual(expected);
  });

  it.each([
    ['1 / 0', "operator '/': division by zero"],
    ['5 % 0', "operator '%': division by zero"],
    ["1 + 'a'", "operator '+' does not apply to number and string"],
    ["'a' - 'b'", "operator '-' does not apply to string and string"],
    ["'10' > 9", "operator '>' does not apply to string and number"],
    ["1 in 'abc'", "operator 'in' looks for a string in a string, got number on its left"],
    ['1 in 5', "operator 'in' needs a list or a string on its right, got number"],
    ['[1, 2][5]', 'index 5 is out of range (length 2)'],
    ["[1, 2]['a']", "operator '[]' needs a whole number index, got string"],
    ['171!', "operator '!' needs a whole number from 0 to 170"],
    ["-'a'", "operator '-' does not apply to string"],
    ['1 = 1', "syntax error at column 3: unknown operator '=' after '1': compare with '=='"],
    ['f(x) = x', "syntax error at column 6: unknown operator '=' after 'f(...)': compare with '=='"],
    ['x.y', "syntax error at column 2: '.' after 'x' reads a member, which expressions cannot do"],
  ])('%s fails with %j', async (expression, message) => {
    const error = await evaluator.evaluate(expression).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ExpressionError);
    expect((error as Error).message).toContain(message);
    expect((error as Error).message).toContain(`(in: ${expression})`);
  });

  it('names unknown functions and names with their column', () => {
    expect(() => evaluator.compile('1 + random(2)')).toThrow("unknown function 'random()' at column 5");
    expect(() => evaluator.compile('map(f, [1])')).toThrow("unknown function 'map()' at column 1");
    expect(() => evaluator.compile("len(centos) + 'x'")).toThrow("unknown name 'centos' at column 5");
    expect(() => evaluator.compile('1 +')).toThrow(
      "syntax error at column 4: expected a value (a number, a 'string', a {reference}, a function call or a '(' group) after '+', found the end of the expression",
    );
    expect(() => evaluator.compile('1 +* 2')).toThrow(
      "syntax error at column 4: expected a value (a number, a 'string', a {reference}, a function call or a '(' group) after '+', found '*'",
    );
    expect(() => evaluator.compile('   ')).toThrow('the expression is empty');
  });

  it('gives the same compiled expression for the same text, and evaluates it', async () => {
    const compiled = evaluator.compile('{collector.m.used} * 2');
    expect(evaluator.compile('{collector.m.used} * 2')).toBe(compiled);
    expect(compiled.source).toBe('{collector.m.used} * 2');
    expect(await evaluator.evaluate(compiled)).toBe(60);
  });

  it("recompiles an expression compiled by another evaluator, so it reads this one's data", async () => {
    const other = new Evaluator(fakeProviders({ collectors: { m: { used: 1 } } }));
    expect(await other.evaluate(evaluator.compile('{collector.m.used} * 2'))).toBe(2);
  });
});
