// The function registry as a whole (functions() listing, signatures, arity checks) and the I/O
// rounds that let synchronous expr-eval call asynchronous functions.
import { readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { Evaluator, ExpressionError } from '../../agent/evaluator/index.js';
import { fakeProviders, fixtureRoot, removeFixtureRoots } from './helpers.js';

afterAll(removeFixtureRoots);

const REQUIRED = [
  'check_tcp',
  'contains',
  'endswith',
  'file_exists',
  'get_env',
  'gossip_count_nodes',
  'grep',
  'grep_file',
  'has_package',
  'hash',
  'host_to_ip',
  'ip_is_in_range',
  'is_dir',
  'is_in_group',
  'is_in_static_group',
  'is_link',
  'join',
  'len',
  'lower',
  'max',
  'min',
  'now',
  'parse_json_file',
  'replace',
  'split',
  'startswith',
  'strip',
  'sum',
  'system_get_os',
  'system_group_exists',
  'system_user_exists',
  'upper',
];

describe('functions()', () => {
  const functions = new Evaluator(fakeProviders()).functions();

  it('lists every required function once, sorted by name', () => {
    const names = functions.map((fn) => fn.name);
    expect(names).toEqual([...names].sort((a, b) => a.localeCompare(b)));
    expect(new Set(names).size).toBe(names.length);
    for (const name of REQUIRED) expect(names).toContain(name);
  });

  it('gives each a signature starting with its name and a one-line doc', () => {
    for (const fn of functions) {
      expect(fn.signature).toMatch(new RegExp(`^${fn.name}\\(.*\\)$`));
      expect(fn.doc.length).toBeGreaterThan(10);
      expect(fn.doc).not.toContain('\n');
    }
    expect(functions.find((fn) => fn.name === 'grep')).toEqual({
      name: 'grep',
      signature: 'grep(string, path)',
      doc: 'True when a line of the file contains the string (case-insensitive); False when the file is missing.',
    });
  });

  it('are all documented in docs/evaluator.md with their signature and doc', () => {
    const docs = readFileSync(new URL('../../docs/evaluator.md', import.meta.url), 'utf8');
    for (const fn of functions) expect(docs).toContain(`| \`${fn.signature}\` |`);
    for (const fn of functions) expect(docs).toContain(`| ${fn.doc} |`);
  });

  it('checks argument counts against the signature', async () => {
    const evaluator = new Evaluator(fakeProviders());
    await expect(evaluator.evaluate("grep('x')")).rejects.toThrow(
      'grep(string, path) takes 2 arguments, got 1',
    );
    await expect(evaluator.evaluate('now(1)')).rejects.toThrow('now() takes 0 arguments, got 1');
    await expect(evaluator.evaluate("hash('a', 'md5', 1)")).rejects.toThrow(
      "hash(string, algo='sha256') takes 1 to 2 arguments, got 3",
    );
  });
});

describe('I/O rounds', () => {
  const files = Object.fromEntries(
    Array.from({ length: 40 }, (_, index) => [`/f/${index}`, `line ${index}\n`]),
  );
  const evaluator = new Evaluator(fakeProviders({ root: fixtureRoot(files) }));

  it('evaluates an expression calling several I/O functions, each once per argument list', async () => {
    const expression = Array.from({ length: 10 }, (_, index) => `grep('line ${index}', '/f/${index}')`).join(
      ' + ',
    );
    expect(await evaluator.evaluate(expression)).toBe(10);
    expect(await evaluator.evaluate("file_exists('/f/1') + file_exists('/f/1') + file_exists('/f/99')")).toBe(
      2,
    );
  });

  it('refuses more distinct I/O calls than rounds allow', async () => {
    const expression = Array.from({ length: 40 }, (_, index) => `file_exists('/f/${index}')`).join(' + ');
    const error = await evaluator.evaluate(expression).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ExpressionError);
    expect((error as Error).message).toContain('calls more than 31 different I/O functions');
  });

  it('keeps evaluations independent when they run concurrently', async () => {
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, index) =>
        evaluator.evaluate(`grep('line ${index}', '/f/${index % 7}')`),
      ),
    );
    expect(results).toEqual(Array.from({ length: 20 }, (_, index) => index % 7 === index));
  });
});
