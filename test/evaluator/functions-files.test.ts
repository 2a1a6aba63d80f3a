// File functions against a fixture root: every absolute path is read under providers.paths.root,
// a missing file answers False, and `..` cannot leave the root.
import { mkdirSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Evaluator, ExpressionError, UnknownValueError } from '../../agent/evaluator/index.js';
import { fakeProviders, fixtureRoot, removeFixtureRoots } from './helpers.js';

afterAll(removeFixtureRoots);

const root = fixtureRoot(
  {
    '/etc/redhat-release': 'CentOS Linux release 7.9.2009 (Core)\n',
    '/etc/redis/redis.conf': '# redis\nport 6379\nbind 127.0.0.1\n',
    '/etc/app.json': JSON.stringify({
      db: { port: 5432, hosts: ['a', 'b'] },
      'v1.2': { x: true },
      obj: { a: 1 },
    }),
    '/etc/bad.json': '{bad',
    '/var/lib/app/data': 'x',
    '/var/log/long': `${'a'.repeat(40)}!\n`,
  },
  { '/etc/link': 'redhat-release', '/etc/broken': '/does/not/exist' },
);
const evaluator = new Evaluator(fakeProviders({ root }));
const evaluate = (expression: string) => evaluator.evaluate(expression);

describe('grep and grep_file', () => {
  it('finds a string in a line, ignoring case, as opsbro did', async () => {
    expect(await evaluate("grep('centos', '/etc/redhat-release')")).toBe(true);
    expect(await evaluate("grep('RELEASE 7', '/etc/redhat-release')")).toBe(true);
    expect(await evaluate("grep('ubuntu', '/etc/redhat-release')")).toBe(false);
    expect(await evaluate("grep('centos', '/etc/os-release')")).toBe(false);
    expect(await evaluate("grep('centos', '/etc')")).toBe(false);
    expect(await evaluate("grep('centos', '/etc/link')")).toBe(true);
  });

  it('does not match across lines', async () => {
    expect(await evaluate("grep('6379\\nbind', '/etc/redis/redis.conf')")).toBe(false);
  });

  it('matches a regular expression per line when regexp is True', async () => {
    expect(await evaluate("grep_file('port', '/etc/redis/redis.conf')")).toBe(true);
    expect(await evaluate("grep_file('^PORT\\\\s+63\\\\d\\\\d$', '/etc/redis/redis.conf', True)")).toBe(true);
    expect(await evaluate("grep_file('^port\\\\s+7000$', '/etc/redis/redis.conf', True)")).toBe(false);
    expect(await evaluate("grep_file('^port', '/etc/missing.conf', True)")).toBe(false);
    // Without regexp=True the pattern is plain text.
    expect(await evaluate("grep_file('^port', '/etc/redis/redis.conf')")).toBe(false);
  });

  it('refuses an invalid regular expression', async () => {
    await expect(evaluate("grep_file('(unclosed', '/etc/redis/redis.conf', True)")).rejects.toThrow(
      'grep_file(string, path, regexp=False): string is not a valid regular expression',
    );
  });

  it('abandons a regular expression that backtracks for too long, without blocking the event loop', async () => {
    let ticks = 0;
    const ticker = setInterval(() => ticks++, 50);
    const started = Date.now();
    const error = await evaluate("grep_file('^(a+)+$', '/var/log/long', True)").catch((e: unknown) => e);
    clearInterval(ticker);
    expect(error).toBeInstanceOf(ExpressionError);
    expect((error as Error).message).toContain('the regular expression ran longer than 2000 ms');
    expect(Date.now() - started).toBeLessThan(6000);
    expect(ticks).toBeGreaterThan(10);
  });
});

describe('path handling', () => {
  it('reads under the root, never above it', async () => {
    // A file next to the root, reachable from the real filesystem with `..`.
    const outside = fixtureRoot({ '/secret.txt': 'secret' });
    const escape = `/../${basename(outside)}/secret.txt`;
    expect(await evaluate(`file_exists('${join(outside, 'secret.txt')}')`)).toBe(false);
    expect(await evaluate(`grep('secret', '${escape}')`)).toBe(false);
    expect(await evaluate(`grep('secret', '../../../..${join(outside, 'secret.txt')}')`)).toBe(false);
    expect(await evaluate("grep('centos', '/../../../etc/redhat-release')")).toBe(true);
    expect(await evaluate("grep('centos', 'etc/redhat-release')")).toBe(true);
  });

  it('refuses a NUL in a path', async () => {
    await expect(evaluate("file_exists('/etc/\\u0000passwd')")).rejects.toThrow(
      'must not contain a NUL character',
    );
  });
});

describe('file_exists, is_dir, is_link', () => {
  it.each([
    ["file_exists('/etc/redhat-release')", true],
    ["file_exists('/var/lib/app')", true],
    ["file_exists('/etc/link')", true],
    ["file_exists('/etc/broken')", false],
    ["file_exists('/nope')", false],
    ["is_dir('/var/lib/app')", true],
    ["is_dir('/var/lib/app/data')", false],
    ["is_dir('/nope')", false],
    ["is_link('/etc/link')", true],
    ["is_link('/etc/broken')", true],
    ["is_link('/etc/redhat-release')", false],
    ["is_link('/nope')", false],
  ])('%s is %j', async (expression, expected) => {
    expect(await evaluate(expression)).toBe(expected);
  });

  it('sees files created after the evaluator, since nothing is cached between evaluations', async () => {
    expect(await evaluate("file_exists('/tmp/late')")).toBe(false);
    mkdirSync(join(root, 'tmp'), { recursive: true });
    writeFileSync(join(root, 'tmp', 'late'), '');
    expect(await evaluate("file_exists('/tmp/late')")).toBe(true);
  });
});

describe('parse_json_file', () => {
  it.each([
    ["parse_json_file('/etc/app.json', 'db.port')", 5432],
    ["parse_json_file('/etc/app.json', 'db.hosts')", ['a', 'b']],
    ["parse_json_file('/etc/app.json', 'db.hosts.1')", 'b'],
    ["parse_json_file('/etc/app.json', 'v1.2.x')", true],
    ["parse_json_file('/etc/app.json', 'db.user', 'postgres')", 'postgres'],
    ["parse_json_file('/etc/none.json', 'db.port', 0)", 0],
  ])('%s is %j', async (expression, expected) => {
    expect(await evaluate(expression)).toEqual(expected);
  });

  it('is unknown when the key or file is missing and no default is given', async () => {
    await expect(evaluate("parse_json_file('/etc/app.json', 'db.user')")).rejects.toThrow(
      new UnknownValueError("unknown: parse_json_file('/etc/app.json', 'db.user') is not available"),
    );
    await expect(evaluate("parse_json_file('/etc/none.json', 'a')")).rejects.toBeInstanceOf(
      UnknownValueError,
    );
  });

  it('refuses objects and invalid JSON', async () => {
    await expect(evaluate("parse_json_file('/etc/app.json', 'obj')")).rejects.toThrow('is an object');
    await expect(evaluate("parse_json_file('/etc/bad.json', 'a')")).rejects.toThrow(
      'the file is not valid JSON',
    );
  });
});
