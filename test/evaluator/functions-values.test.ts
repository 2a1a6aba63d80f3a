// Pure functions: strings, numbers and conversions, hash, now().
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { Evaluator, ExpressionError } from '../../agent/evaluator/index.js';
import { fakeProviders } from './helpers.js';

const evaluator = new Evaluator(
  fakeProviders({ collectors: { cpu: { loads: [0.5, 2, 1.25], count: '8' } } }),
);
const evaluate = (expression: string) => evaluator.evaluate(expression);

describe('string functions', () => {
  it.each([
    ["lower('CentOS')", 'centos'],
    ["upper('redis')", 'REDIS'],
    ["strip('  a b \\n')", 'a b'],
    ["strip('xxhixx', 'x')", 'hi'],
    ["strip('[a]', '[]')", 'a'],
    ["startswith('redis-server', 'redis')", true],
    ["endswith('redis-server', 'redis')", false],
    ["contains('redis-server', 'is-se')", true],
    ["contains(['a', 'b'], 'b')", true],
    ['contains([1, 2], 3)', false],
    ["replace('a.b.c', '.', '/')", 'a/b/c'],
    ["split('a,b,,c', ',')", ['a', 'b', '', 'c']],
    ["split('  a \\t b\\n')", ['a', 'b']],
    ["join(['a', 1, True], ',')", 'a,1,True'],
    ["join([], ',')", ''],
  ])('%s is %j', async (expression, expected) => {
    expect(await evaluate(expression)).toEqual(expected);
  });

  it('refuses wrong argument types, quoting the signature', async () => {
    await expect(evaluate('lower(3)')).rejects.toThrow(
      'lower(string): string must be a string, got number 3',
    );
    await expect(evaluate("replace('a', '', 'b')")).rejects.toThrow(
      'replace(string, old, new): old must not be empty',
    );
    await expect(evaluate("join('ab', ',')")).rejects.toThrow('join(list, separator): list must be a list');
  });
});

describe('number functions and conversions', () => {
  it.each([
    ['min(3, 1, 2)', 1],
    ['max({collector.cpu.loads})', 2],
    ["min('b', 'a')", 'a'],
    ['sum({collector.cpu.loads})', 3.75],
    ['sum(1, 2, True)', 4],
    ['sum([])', 0],
    ["len('abc') + len([1, 2])", 5],
    ['int({collector.cpu.count}) * 2', 16],
    ['int(-4.7)', -4],
    ["float(' 97.5 ')", 97.5],
    ["float('-1e3') < 0", true],
    ['str(2.5) + str(True)', '2.5True'],
  ])('%s is %j', async (expression, expected) => {
    expect(await evaluate(expression)).toEqual(expected);
  });

  it.each([
    ['min()', 'min(values...) takes at least 1 argument'],
    ['max([])', 'must be numbers, or strings'],
    ["max(1, 'a')", 'must be numbers, or strings'],
    ["sum(['a'])", 'sum(values...): values must be numbers'],
    ['len(3)', 'len(value): value must be a string or a list'],
    ["int('4.5')", 'int(value): value must be a number or a string of digits'],
    ["float('x')", 'float(value): value must be a number or a string holding one'],
  ])('%s fails: %s', async (expression, message) => {
    const error = await evaluate(expression).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ExpressionError);
    expect((error as Error).message).toContain(message);
  });
});

describe('hash and now', () => {
  it('hashes with an allowed algorithm only', async () => {
    expect(await evaluate("hash('abc')")).toBe(createHash('sha256').update('abc').digest('hex'));
    expect(await evaluate("hash('abc', 'md5')")).toBe('900150983cd24fb0d6963f7d28e17f72');
    expect(await evaluate("hash('abc', 'SHA1')")).toBe('a9993e364706816aba3e25717850c26c9cd0d89d');
    await expect(evaluate("hash('abc', 'whirlpool')")).rejects.toThrow('algo must be one of md5, sha1');
  });

  it('gives whole Unix seconds, the same instant throughout one evaluation', async () => {
    const before = Math.floor(Date.now() / 1000);
    const now = await evaluate('now()');
    expect(now).toBeGreaterThanOrEqual(before);
    expect(now).toBeLessThanOrEqual(Math.ceil(Date.now() / 1000));
    expect(Number.isInteger(now)).toBe(true);
    expect(await evaluate('now() == now()')).toBe(true);
  });
});
