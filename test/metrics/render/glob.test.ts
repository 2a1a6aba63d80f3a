// Graphite path globs: per-node matching with fnmatch's *, ?, [sets], [!sets], brace expansion as
// graphite-web's finders do it, and the bounds on pattern size and alternatives.
import { describe, expect, it } from 'vitest';
import {
  compileGlob,
  compileGlobNodes,
  compileNodeGlob,
  expandBraces,
  isGlob,
  matchNodes,
} from '../../../agent/metrics/render/glob.js';

describe('compileGlob', () => {
  it.each([
    ['a.b.c', 'a.b.c', true],
    ['a.b.c', 'a.b.d', false],
    ['a.*.c', 'a.b.c', true],
    ['a.*.c', 'a.bb.c', true],
    ['a.*.c', 'a.b.d', false],
    ['a.*', 'a.b.c', false],
    ['a.*.c', 'a.b.c.d', false],
    ['a.b*', 'a.b', true],
    ['a.*b*d', 'a.xbyd', true],
    ['a.*b*d', 'a.xbyde', false],
    ['a.?', 'a.b', true],
    ['a.?', 'a.bc', false],
    ['host[0-9]', 'host5', true],
    ['host[0-9]', 'hostx', false],
    ['host[!0-9]', 'hostx', true],
    ['host[!0-9]', 'host5', false],
    ['host[^0-9]', 'host^', true],
    ['host[^0-9]', 'host5', true],
    ['host[^0-9]', 'hostx', false],
    ['host[a-cx]', 'hostx', true],
    ['host[a-cx]', 'hostd', false],
    ['host[]]', 'host]', true],
    ['host[!]]', 'hostx', true],
    ['host[!]]', 'host]', false],
    ['host[z-a]', 'hostm', false],
    ['a[b', 'a[b', true],
    ['a.{b,c}.d', 'a.b.d', true],
    ['a.{b,c}.d', 'a.c.d', true],
    ['a.{b,c}.d', 'a.e.d', false],
    ['cpu-{user,sys}*', 'cpu-user1', true],
    ['cpu-{user,sys}*', 'cpu-idle1', false],
    ['{a,{b,c}d}', 'cd', true],
    ['{a,{b,c}d}', 'a', true],
    ['{a,{b,c}d}', 'ad', false],
    ['{x}', 'x', true],
    ['a.{b', 'a.{b', true],
    ['A.b', 'a.b', false],
  ])('%s against %s: %s', (pattern, path, expected) => {
    expect(compileGlob(pattern)(path)).toBe(expected);
  });

  it('stays fast on patterns that make backtracking regexps explode', () => {
    const pattern = `${'*a'.repeat(60)}*b`;
    const started = performance.now();
    expect(compileGlob(pattern)('a'.repeat(500))).toBe(false);
    expect(performance.now() - started).toBeLessThan(500);
  });

  it('refuses over-long patterns and too many alternatives', () => {
    expect(() => compileGlob('a'.repeat(1025))).toThrow('1025 characters refused');
    const names = (count: number, prefix: string): string =>
      Array.from({ length: count }, (_, i) => `${prefix}${i}`).join(',');
    expect(() => compileGlob(`{${names(65, 'h')}}`)).toThrow('more than 64 alternatives');
    expect(() => compileGlob(`{${names(33, 'h')}}.{${names(32, 'm')}}`)).toThrow('more than 64 alternatives');
    expect(compileGlob(`{${names(32, 'h')}}.{${names(32, 'm')}}`)('h31.m0')).toBe(true);
    expect(() => compileGlob('{a,b}'.repeat(7))).toThrow('more than 64 alternatives');
  });
});

describe('helpers', () => {
  it('expandBraces expands nested and adjacent lists, once each', () => {
    expect(expandBraces('{a,b}{c,d}').sort()).toEqual(['ac', 'ad', 'bc', 'bd']);
    expect(expandBraces('x{a,a}y')).toEqual(['xay']);
    expect(expandBraces('{,a}b').sort()).toEqual(['ab', 'b']);
  });

  it('matchNodes, compileNodeGlob, isGlob', () => {
    expect(matchNodes(compileGlobNodes('a.*'), ['a', 'b'])).toBe(true);
    expect(matchNodes(compileGlobNodes('a.*'), ['a'])).toBe(false);
    expect(compileNodeGlob('web[0-9]*')('web12')).toBe(true);
    expect(isGlob('a.b.c')).toBe(false);
    expect(isGlob('a.{b,c}')).toBe(true);
    expect(isGlob('a.b?')).toBe(true);
  });
});
