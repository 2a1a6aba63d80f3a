// Host and cluster functions: environment, OS, users, groups and packages (from fixture files
// under the root), groups and member counts (from the providers).
import { writeFileSync } from 'node:fs';
import { platform } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { Evaluator, ExpressionError } from '../../agent/evaluator/index.js';
import { fakeProviders, fixtureRoot, removeFixtureRoots } from './helpers.js';

afterAll(removeFixtureRoots);

const DPKG_STATUS = `Package: redis-server
Status: install ok installed
Architecture: amd64
Version: 5:7.0.15-1

Package: apache2
Status: deinstall ok config-files
Architecture: amd64

Package: libc6
Status: install ok installed
Architecture: amd64
Description: GNU C Library
 multi-line description: Package: fake
`;

const root = fixtureRoot({
  '/etc/passwd': 'root:x:0:0:root:/root:/bin/bash\nredis:x:112:118::/var/lib/redis:/usr/sbin/nologin\n',
  '/etc/group': 'root:x:0:\nwww-data:x:33:\n',
  '/var/lib/dpkg/status': DPKG_STATUS,
});
const alpineRoot = fixtureRoot({ '/lib/apk/db/installed': 'C:Q1abc\nP:musl\nV:1.2.4\n\nP:nginx\nV:1.24\n' });
const emptyRoot = fixtureRoot();

const evaluator = new Evaluator(
  fakeProviders({
    root,
    groups: ['linux', 'redis'],
    staticGroups: ['linux'],
    counts: { 'redis/alive': 3, 'redis/dead': 1 },
  }),
);
const evaluate = (expression: string) => evaluator.evaluate(expression);

describe('get_env and system_get_os', () => {
  afterEach(() => {
    delete process.env.EVALUATOR_TEST_VAR;
  });

  it('reads an allowed variable of the environment, with a default', async () => {
    const allowing = new Evaluator(
      fakeProviders({ envAllowList: ['EVALUATOR_TEST_VAR', 'EVALUATOR_TEST_UNSET', 'toString'] }),
    );
    process.env.EVALUATOR_TEST_VAR = 'on';
    expect(await allowing.evaluate("get_env('EVALUATOR_TEST_VAR')")).toBe('on');
    expect(await allowing.evaluate("get_env('EVALUATOR_TEST_UNSET')")).toBe('');
    expect(await allowing.evaluate("get_env('EVALUATOR_TEST_UNSET', 'dflt')")).toBe('dflt');
    // Inherited properties of process.env are not variables.
    expect(await allowing.evaluate("get_env('toString', 'none')")).toBe('none');
  });

  it('names the OS in lower case', async () => {
    expect(await evaluate('system_get_os()')).toBe(platform() === 'win32' ? 'windows' : platform());
  });
});

describe('users, groups, packages', () => {
  it.each([
    ["system_user_exists('redis')", true],
    ["system_user_exists('postgres')", false],
    ['system_user_exists(112)', true],
    ["system_user_exists('0')", true],
    ['system_user_exists(999)', false],
    ["system_group_exists('www-data')", true],
    ['system_group_exists(33)', true],
    ["system_group_exists('docker')", false],
    ["has_package('redis-server')", true],
    ["has_package('libc6')", true],
    ["has_package('libc6:amd64')", true],
    ["has_package('apache2')", false],
    ["has_package('fake')", false],
    ["has_package('nginx')", false],
  ])('%s is %j', async (expression, expected) => {
    expect(await evaluate(expression)).toBe(expected);
  });

  it('reads apk and answers False when no package database exists', async () => {
    const alpine = new Evaluator(fakeProviders({ root: alpineRoot }));
    expect(await alpine.evaluate("has_package('nginx')")).toBe(true);
    expect(await alpine.evaluate("has_package('redis')")).toBe(false);
    const bare = new Evaluator(fakeProviders({ root: emptyRoot }));
    expect(await bare.evaluate("has_package('redis-server')")).toBe(false);
    expect(await bare.evaluate("system_user_exists('root')")).toBe(false);
  });

  it('sees a package installed after an answer (the parsed database follows its file)', async () => {
    const changing = fixtureRoot({ '/var/lib/dpkg/status': DPKG_STATUS });
    const onChanging = new Evaluator(fakeProviders({ root: changing }));
    expect(await onChanging.evaluate("has_package('nginx')")).toBe(false);
    writeFileSync(
      join(changing, 'var/lib/dpkg/status'),
      `${DPKG_STATUS}\nPackage: nginx\nStatus: install ok installed\nArchitecture: amd64\n`,
    );
    expect(await onChanging.evaluate("has_package('nginx')")).toBe(true);
  });

  it('refuses a user that is neither a name nor an id', async () => {
    await expect(evaluate('system_user_exists(1.5)')).rejects.toThrow(
      'name_or_uid must be a name or a numeric id',
    );
  });
});

describe('cluster functions', () => {
  it.each([
    ["is_in_group('redis')", true],
    ["is_in_group('mongodb')", false],
    ["is_in_static_group('linux')", true],
    ["is_in_static_group('redis')", false],
    ["gossip_count_nodes('redis')", 3],
    ["gossip_count_nodes('redis', 'dead')", 1],
    ["gossip_count_nodes('web', 'alive')", 0],
  ])('%s is %j', async (expression, expected) => {
    expect(await evaluate(expression)).toBe(expected);
  });

  it('refuses an unknown member state', async () => {
    const error = await evaluate("gossip_count_nodes('redis', 'happy')").catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ExpressionError);
    expect((error as Error).message).toContain('state must be one of alive, suspect, dead, left');
  });
});
