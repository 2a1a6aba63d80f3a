// Issue 10: `parse_json_file("/var/lib/opsbro/keyring.json", "primary")` returned the cluster key,
// and /proc/self/environ answered. File functions now refuse the agent's data dir, its config dir,
// the key file and every process's environment and memory, by the identity of what they open:
// symlinks, `..`, hard links, /proc/self/root and /proc/self/fd lead nowhere. The refusal is an
// ExpressionError that names the path and never the content.
import { closeSync, existsSync, linkSync, mkdirSync, openSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Evaluator, ExpressionError } from '../../agent/evaluator/index.js';
import { fakeProviders, fixtureRoot, removeFixtureRoots } from './helpers.js';

afterAll(removeFixtureRoots);

const SECRET = 'SECRET-4f1c9a';
// One temporary tree (one file system, for hard links): the agent's dirs and a place outside them.
const base = fixtureRoot({
  '/data/keyring.json': JSON.stringify({ primary: SECRET }),
  '/data/local-token': `${SECRET}\n`,
  '/data/node-id': `${SECRET}\n`,
  '/data/store/000001.log': SECRET,
  '/etc/agent.yml': `encryption_key: ${SECRET}\n`,
  '/cluster.key': `${SECRET}\n`,
  '/outside/plain.txt': 'hello\n',
  '/outside/plain.json': '{"a": 1}',
  // Next to the protected ones, with names that begin like theirs: protection is not by prefix.
  '/data-old/keyring.json': '{"primary": "not-a-secret"}',
  '/etc.d/agent.yml': 'node_name: box\n',
  '/cluster.key.pub': 'public\n',
});
const dataDir = join(base, 'data');
const configDir = join(base, 'etc');
const keyFile = join(base, 'cluster.key');
const outside = join(base, 'outside');
symlinkSync(join(dataDir, 'keyring.json'), join(outside, 'keyring-link'));
symlinkSync(dataDir, join(outside, 'data-link'));
symlinkSync('/proc/self/environ', join(outside, 'environ-link'));
linkSync(join(dataDir, 'local-token'), join(outside, 'token-hardlink'));
linkSync(join(dataDir, 'store', '000001.log'), join(outside, 'store-hardlink'));
linkSync(keyFile, join(outside, 'key-hardlink'));
// A file with two names, neither protected: readable.
linkSync(join(outside, 'plain.txt'), join(outside, 'plain-hardlink'));
mkdirSync(join(outside, 'sub'));

const evaluator = new Evaluator(
  fakeProviders({
    root: '/',
    protectedPaths: [
      { path: dataDir, what: "the agent's data dir" },
      { path: configDir, what: "the agent's config dir" },
      { path: keyFile, what: 'the cluster key file (encryption_key_file)' },
    ],
  }),
);

async function refusal(expression: string): Promise<string> {
  const error = await evaluator.evaluate(expression).then(
    (value) => new Error(`answered ${JSON.stringify(value)}`),
    (caught: unknown) => caught as Error,
  );
  expect(error).toBeInstanceOf(ExpressionError);
  expect(error.message).toMatch(/refused: /);
  expect(error.message).not.toContain(SECRET);
  return error.message;
}

const readers = (path: string) => [
  `grep('secret', '${path}')`,
  `grep_file('^SECRET', '${path}', True)`,
  `parse_json_file('${path}', 'primary', 'none')`,
];

describe("the agent's own files", () => {
  it.each([
    ['the keyring', join(dataDir, 'keyring.json')],
    ['the local token', join(dataDir, 'local-token')],
    ['the node id', join(dataDir, 'node-id')],
    ['a store file', join(dataDir, 'store', '000001.log')],
  ])('refuses %s in the data dir by every reading function', async (_what, path) => {
    for (const expression of readers(path)) {
      expect(await refusal(expression)).toContain(`refused: ${path} is in the agent's data dir`);
    }
  });

  it('refuses the config dir (agent.yml holds keys and tokens) and the key file wherever it is', async () => {
    expect(await refusal(`grep('key', '${join(configDir, 'agent.yml')}')`)).toContain(
      "is in the agent's config dir",
    );
    expect(await refusal(`grep('s', '${keyFile}')`)).toContain(
      'is the cluster key file (encryption_key_file)',
    );
  });

  it.each([
    ['a symlink to the file', join(outside, 'keyring-link')],
    ['a symlink to the directory', join(outside, 'data-link', 'keyring.json')],
    ['`..` out of another directory', `${outside}/sub/../../data/keyring.json`],
    ['/proc/self/root', `/proc/self/root${dataDir}/keyring.json`],
    [
      '/proc/self/root and a climb out of another directory',
      `/proc/self/root/${base.slice(1)}/outside/../data/local-token`,
    ],
  ])('refuses the data dir through %s', async (_how, path) => {
    expect(await refusal(`grep('s', '${path}')`)).toMatch(/is in the agent's data dir/);
  });

  it('refuses a hard link to a protected file, made outside the protected dirs', async () => {
    expect(await refusal(`grep('s', '${join(outside, 'token-hardlink')}')`)).toContain(
      "is another name (a hard link) of a file in the agent's data dir",
    );
    expect(await refusal(`grep('s', '${join(outside, 'store-hardlink')}')`)).toContain('hard link');
    expect(await refusal(`grep('s', '${join(outside, 'key-hardlink')}')`)).toContain(
      'is the cluster key file',
    );
  });

  it('refuses a descriptor of a protected file reached through /proc/self/fd', async () => {
    const fd = openSync(join(dataDir, 'keyring.json'), 'r');
    try {
      expect(await refusal(`grep('s', '/proc/self/fd/${fd}')`)).toContain("is in the agent's data dir");
    } finally {
      closeSync(fd);
    }
  });

  it('refuses the protected paths to file_exists and is_dir too, and a link into them', async () => {
    expect(await refusal(`file_exists('${join(dataDir, 'node-id')}')`)).toContain(
      "is in the agent's data dir",
    );
    expect(await refusal(`is_dir('${dataDir}')`)).toContain("is the agent's data dir");
    expect(await refusal(`file_exists('${join(outside, 'data-link')}')`)).toContain(
      "is the agent's data dir",
    );
    // The link itself lives outside: that it is a link is no secret.
    expect(await evaluator.evaluate(`is_link('${join(outside, 'keyring-link')}')`)).toBe(true);
  });

  it('refuses the same through a fixture root whose files link into the data dir', async () => {
    const root = fixtureRoot({}, { '/etc/keyring': join(dataDir, 'keyring.json') });
    const rooted = new Evaluator(
      fakeProviders({ root, protectedPaths: [{ path: dataDir, what: "the agent's data dir" }] }),
    );
    await expect(rooted.evaluate("parse_json_file('/etc/keyring', 'primary')")).rejects.toThrow(
      `refused: ${join(root, 'etc', 'keyring')} is in the agent's data dir`,
    );
  });

  it('still reads everything else, a file with two unprotected names included', async () => {
    expect(await evaluator.evaluate(`grep('hello', '${join(outside, 'plain.txt')}')`)).toBe(true);
    expect(await evaluator.evaluate(`grep('hello', '${join(outside, 'plain-hardlink')}')`)).toBe(true);
    expect(await evaluator.evaluate(`parse_json_file('${join(outside, 'plain.json')}', 'a')`)).toBe(1);
    expect(await evaluator.evaluate(`is_dir('${outside}')`)).toBe(true);
    expect(await evaluator.evaluate(`file_exists('${base}')`)).toBe(true);
    // Siblings whose names begin with a protected dir's or file's name are not inside it.
    expect(await evaluator.evaluate(`parse_json_file('${base}/data-old/keyring.json', 'primary')`)).toBe(
      'not-a-secret',
    );
    expect(await evaluator.evaluate(`grep('box', '${base}/etc.d/agent.yml')`)).toBe(true);
    expect(await evaluator.evaluate(`grep('public', '${keyFile}.pub')`)).toBe(true);
  });
});

describe("processes' environments and memory", () => {
  it.each([
    ['/proc/self/environ'],
    ['/proc/thread-self/environ'],
    [`/proc/${process.pid}/environ`],
    [`/proc/${process.pid}/task/${process.pid}/environ`],
    // Another process's (the test runner's): where other services keep their passwords.
    [`/proc/${process.ppid}/environ`],
    ['/proc/self/mem'],
    [`/proc/${process.pid}/task/${process.pid}/mem`],
    // Containers often hide it; where it exists it is the kernel's memory.
    ...(existsSync('/proc/kcore') ? [['/proc/kcore']] : []),
    [join(outside, 'environ-link')],
    [`/proc/self/root/proc/${process.pid}/environ`],
  ])('refuses %s', async (path) => {
    expect(await refusal(`grep('PATH', '${path}')`)).toMatch(/is a process's environment or memory/);
  });

  it('still reads other /proc files', async () => {
    expect(await evaluator.evaluate("grep('node', '/proc/self/cmdline')")).toBe(true);
    expect(await evaluator.evaluate("grep_file('^Name:', '/proc/self/status', True)")).toBe(true);
  });
});
