// The target grammar of graphite-web 1.1: paths with globs and escapes, calls with positional and
// keyword arguments, numbers, raw strings, booleans, None, pipes; and errors with their position.
import { describe, expect, it } from 'vitest';
import {
  MAX_CALL_DEPTH,
  parseTarget,
  pathExpressionsOf,
  TargetSyntaxError,
  type ArgNode,
} from '../../../agent/metrics/render/parser.js';

/** The AST without positions, as nested plain values, to compare shapes. */
function shape(node: ArgNode): unknown {
  switch (node.type) {
    case 'path':
      return node.path;
    case 'call':
      return {
        [node.name]: node.args.map(shape),
        ...(node.kwargs.length > 0
          ? { kwargs: Object.fromEntries(node.kwargs.map((k) => [k.name, shape(k.value)])) }
          : {}),
      };
    case 'number':
      return { number: node.value, isFloat: node.isFloat };
    case 'string':
      return { string: node.value };
    case 'boolean':
      return node.value;
    case 'none':
      return null;
  }
}

describe('parseTarget', () => {
  it.each([
    ['a.b.c', 'a.b.c'],
    ['servers.*.cpu-[0-9].{user,system}', 'servers.*.cpu-[0-9].{user,system}'],
    ['a-b.c_d.e:f.g;tag=v', 'a-b.c_d.e:f.g;tag=v'],
    ['a\\(b\\).c\\,d', 'a(b).c,d'],
    ['1a.b', '1a.b'],
    ['  a.b  ', 'a.b'],
  ])('path %j', (target, expected) => {
    expect(shape(parseTarget(target))).toEqual(expected);
  });

  it('calls, nested, with every literal kind', () => {
    expect(
      shape(
        parseTarget(
          'f(a.*, g(b.c, 2), 1, -2, 3.5, -4.25, 1e3, 2.5E-2, \'x y\', "c,d", true, False, TRUE, None, null, inf)',
        ),
      ),
    ).toEqual({
      f: [
        'a.*',
        { g: ['b.c', { number: 2, isFloat: false }] },
        { number: 1, isFloat: false },
        { number: -2, isFloat: false },
        { number: 3.5, isFloat: true },
        { number: -4.25, isFloat: true },
        { number: 1000, isFloat: true },
        { number: 0.025, isFloat: true },
        { string: 'x y' },
        { string: 'c,d' },
        true,
        false,
        true,
        null,
        null,
        { number: Infinity, isFloat: true },
      ],
    });
  });

  it('keeps strings raw, as graphite does (regexps pass unchanged)', () => {
    expect(shape(parseTarget("f(x, 'a\\'b', '^(\\d+)$', 'it''s')"))).toEqual({
      f: ['x', { string: "a\\'b" }, { string: '^(\\d+)$' }, { string: "it''s" }],
    });
  });

  it('a number only when it ends the argument; otherwise a path', () => {
    expect(shape(parseTarget('f(1a, 10.5.x, -5)'))).toEqual({
      f: ['1a', '10.5.x', { number: -5, isFloat: false }],
    });
    expect(shape(parseTarget('f(trueish, None.x)'))).toEqual({ f: ['trueish', 'None.x'] });
  });

  it('keyword arguments after positional ones', () => {
    expect(shape(parseTarget("summarize(a.b, '1h', func = 'max', alignToFrom=true)"))).toEqual({
      summarize: ['a.b', { string: '1h' }],
      kwargs: { func: { string: 'max' }, alignToFrom: true },
    });
  });

  it('pipes are calls with the piped expression first; the call keeps its own text', () => {
    const piped = parseTarget("a.b|scale(2) | alias('x')");
    expect(shape(piped)).toEqual({
      alias: [{ scale: ['a.b', { number: 2, isFloat: false }] }, { string: 'x' }],
    });
    expect(piped.type === 'call' && piped.raw).toBe("alias('x')");
    expect(shape(parseTarget('sumSeries(a.*|scale(2), b)'))).toEqual({
      sumSeries: [{ scale: ['a.*', { number: 2, isFloat: false }] }, 'b'],
    });
  });

  it('seriesByTag keeps its text as written', () => {
    const node = parseTarget('sumSeries(seriesByTag(\'name=cpu\',  "dc=par"))');
    expect(pathExpressionsOf(node)).toEqual(['seriesByTag(\'name=cpu\',  "dc=par")']);
    expect(pathExpressionsOf(parseTarget('f(a.b, g(c.d, a.b), k=e.f)'))).toEqual(['a.b', 'c.d', 'e.f']);
  });

  it.each([
    ['sumSeries(a.b', 13, "expected ')'"],
    ['a.b)', 3, 'unexpected'],
    ['f(a.b) c', 7, 'unexpected'],
    ['f(,)', 2, 'expected a metric path or a function call'],
    ['a..b', 2, "a path node is expected after '.'"],
    ['a.', 2, "a path node is expected after '.'"],
    ['a.{b,}', 5, 'non-empty alternative'],
    ['a.{b', 4, "expected ',' or '}'"],
    ["f('abc)", 2, 'unterminated string'],
    ['', 0, 'expected a metric path'],
    ['|scale(2)', 0, 'expected a metric path'],
    ['a.b|c.d', 4, 'a function call is expected'],
    ['f(k=1, 2)', 7, 'positional argument cannot follow'],
    ['f(k=1, k=2)', 7, 'given twice'],
  ])('%j fails at %d', (target, position, message) => {
    let caught: unknown;
    try {
      parseTarget(target);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(TargetSyntaxError);
    expect((caught as TargetSyntaxError).position).toBe(position);
    expect((caught as TargetSyntaxError).message).toContain(message);
    expect((caught as TargetSyntaxError).message).toContain(`position ${position}`);
  });

  it('bounds nesting and length', () => {
    const deep = (depth: number): string => `${'f('.repeat(depth)}x${')'.repeat(depth)}`;
    expect(() => parseTarget(deep(MAX_CALL_DEPTH))).not.toThrow();
    expect(() => parseTarget(deep(MAX_CALL_DEPTH + 1))).toThrow('nested deeper');
    expect(() => parseTarget(`a.${'b'.repeat(70_000)}`)).toThrow('characters refused');
  });
});
