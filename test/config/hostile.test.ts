// The loader against hostile and careless input: files too large, alias bombs, environment values
// with line breaks, FIFOs, devices and /etc/shadow behind symbolic links, and a seeded fuzz of odd
// files. Every outcome is a LoadedConfig or ConfigErrors of one-line file:line messages, in bounded
// time and memory, and a file that is not a configuration file is never quoted.
import { execFileSync } from 'node:child_process';
import { mkdirSync, openSync, closeSync, ftruncateSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigErrors, loadConfig, type LoadOptions } from '../../agent/config/index.js';
import { readBoundedFile } from '../../agent/config/bounded-read.js';
import { MAX_NESTING_DEPTH, MAX_SCALARS } from '../../agent/config/yaml-file.js';
import {
  cleanupAll,
  httpGet,
  prepareAgentDirs,
  startAgent,
  tempDir,
  WITHOUT_PACKS,
} from '../helpers/agent-process.js';

afterEach(cleanupAll);

const MiB = 1024 * 1024;

function configDir(files: Record<string, string | Buffer> = {}): string {
  const dir = tempDir();
  mkdirSync(join(dir, 'conf.d'));
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return dir;
}

/** Every message of one load (errors, then warnings), whether it was refused or not. */
function messagesOf(options: LoadOptions): { refused: boolean; messages: string[] } {
  try {
    const loaded = loadConfig({ packDirs: [], env: () => undefined, ...options });
    return { refused: false, messages: loaded.warnings };
  } catch (error) {
    // Anything but ConfigErrors is the stack trace this file is about.
    expect(error).toBeInstanceOf(ConfigErrors);
    const { errors, warnings } = error as ConfigErrors;
    return { refused: true, messages: [...errors.map((e) => e.message), ...warnings] };
  }
}

function errorsOf(dir: string, env: Record<string, string> = {}, extra: Partial<LoadOptions> = {}): string[] {
  const { refused, messages } = messagesOf({ configDir: dir, env: (name) => env[name], ...extra });
  expect(refused).toBe(true);
  return messages;
}

/** A file of `sizeBytes` whose blocks are not written (sparse): large on paper, free to make. */
function sparseFile(path: string, sizeBytes: number): void {
  const fd = openSync(path, 'w');
  ftruncateSync(fd, sizeBytes);
  closeSync(fd);
}

describe('file size', () => {
  it('refuses a file over 4 MiB before reading it: a 54 MB agent.yml costs no memory', () => {
    const dir = configDir();
    const file = join(dir, 'agent.yml');
    sparseFile(file, 54_000_000);
    const rssBefore = process.memoryUsage().rss;
    expect(errorsOf(dir)).toEqual([`${file}: too large (54000000 bytes, limit 4 MiB)`]);
    // Reading it would have taken 54 MB at least, parsing it gigabytes.
    expect(process.memoryUsage().rss - rssBefore).toBeLessThan(20 * MiB);
  });

  it('takes a file of exactly the limit, refuses one byte more', () => {
    const comment = (size: number) => '#'.repeat(size - 1) + '\n';
    expect(messagesOf({ configDir: configDir({ 'agent.yml': comment(4 * MiB) }) }).refused).toBe(false);
    const dir = configDir({ 'agent.yml': comment(4 * MiB + 1) });
    expect(errorsOf(dir)).toEqual([`${join(dir, 'agent.yml')}: too large (4194305 bytes, limit 4 MiB)`]);
  });

  it('takes its limit from OPSBRO_MAX_CONFIG_FILE_BYTES, and refuses a bad value of it', () => {
    const dir = configDir({ 'agent.yml': 'datacenter: dc1\n' + '#'.repeat(2000) + '\n' });
    expect(errorsOf(dir, { OPSBRO_MAX_CONFIG_FILE_BYTES: '1024' })).toEqual([
      `${join(dir, 'agent.yml')}: too large (2017 bytes, limit 1 KiB)`,
    ]);
    expect(errorsOf(dir, { OPSBRO_MAX_CONFIG_FILE_BYTES: '4MB' })).toEqual([
      'OPSBRO_MAX_CONFIG_FILE_BYTES: expected a number of bytes such as 8388608, got "4MB"',
    ]);
    const big = configDir({ 'agent.yml': '#'.repeat(5 * MiB) + '\n' });
    expect(
      messagesOf({
        configDir: big,
        env: (name) => (name.startsWith('OPSBRO_MAX') ? String(8 * MiB) : undefined),
      }).refused,
    ).toBe(false);
  });

  it('bounds all the files of one load together (4 times the limit of one)', () => {
    const dir = configDir();
    for (const name of ['a', 'b', 'c', 'd', 'e'])
      writeFileSync(join(dir, 'conf.d', `${name}.yml`), '#'.repeat(1000) + '\n');
    expect(errorsOf(dir, {}, { maxFileBytes: 1024 })).toEqual([
      `${join(dir, 'conf.d', 'e.yml')}: the configuration files hold more than 4 KiB together (4 times the limit of one file): this file and those after it were not read`,
    ]);
  });

  it('reads with a bounded read: a file that grows past its stat size is cut off, not slurped', () => {
    // /proc files are regular files of size 0 that hold more when read.
    expect(() => readBoundedFile('/proc/self/smaps', 1024)).toThrow(
      'too large (more than 1024 bytes, still growing, limit 1 KiB)',
    );
  });

  it(`refuses a file of more than ${MAX_SCALARS} values before parsing it, at the line that passes the bound`, () => {
    const lines = Array.from({ length: MAX_SCALARS / 2 + 10 }, (_, i) => `k${i}: 1`).join('\n');
    const dir = configDir({ 'agent.yml': lines });
    const started = performance.now();
    expect(errorsOf(dir)).toEqual([
      `${join(dir, 'agent.yml')}:${MAX_SCALARS / 2 + 1}: too many values (more than ${MAX_SCALARS} keys, values and list items in one file): split it into several files`,
    ]);
    expect(performance.now() - started).toBeLessThan(3000);
  });
});

describe('YAML that would print a stack trace', () => {
  it('refuses an alias bomb at the line of its first alias', () => {
    const bomb = [
      'a: &a ["x", "x", "x", "x", "x", "x", "x", "x", "x"]',
      'b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]',
      'c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]',
      'd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]',
      'e: [*d, *d, *d, *d, *d, *d, *d, *d, *d]',
      '',
    ].join('\n');
    const dir = configDir({ 'agent.yml': bomb });
    expect(errorsOf(dir)).toEqual([
      `${join(dir, 'agent.yml')}:2: YAML aliases expand too much (more than 100 copies of aliased nodes): write the values out, or alias less`,
    ]);
  });

  it('refuses aliases without an anchor and aliases inside what they copy', () => {
    const missing = configDir({ 'agent.yml': 'datacenter: dc1\nnode_name: *nowhere\n' });
    expect(errorsOf(missing)).toEqual([
      `${join(missing, 'agent.yml')}:2: an alias (*name) with no anchor (&name) before it`,
    ]);
    const cycle = configDir({ 'agent.yml': 'log: &a\n  level: *a\n' });
    expect(errorsOf(cycle)).toEqual([
      `${join(cycle, 'agent.yml')}:2: an alias inside the node it refers to (a cycle)`,
    ]);
  });

  it('refuses an environment value with a line break at the line of the reference, never quoting it', () => {
    const dir = configDir({ 'agent.yml': 'datacenter: dc1\napi:\n  port: ${API_PORT}\n' });
    const messages = errorsOf(dir, { API_PORT: 'a: b\nsecret-value' });
    expect(messages).toEqual([
      `${join(dir, 'agent.yml')}:3: environment variable API_PORT holds a line break or another control character: values from the environment must be one line`,
    ]);
    expect(messages.join('\n')).not.toContain('secret-value');
    expect(errorsOf(dir, { API_PORT: '80\u0000' })[0]).toContain(':3: environment variable API_PORT holds');
  });

  it(`refuses nesting deeper than ${MAX_NESTING_DEPTH} levels, flow or block`, () => {
    const flow = configDir({ 'agent.yml': `log: ${'['.repeat(200)}${']'.repeat(200)}\n` });
    expect(errorsOf(flow)).toEqual([
      `${join(flow, 'agent.yml')}:1: nested too deeply (more than ${MAX_NESTING_DEPTH} levels of mappings and lists)`,
    ]);
    const block = Array.from({ length: 100 }, (_, depth) => `${'  '.repeat(depth)}k${depth}:`).join('\n');
    const dir = configDir({ 'agent.yml': `${block} 1\n` });
    expect(errorsOf(dir)).toEqual([
      `${join(dir, 'agent.yml')}:${MAX_NESTING_DEPTH + 1}: nested too deeply (more than ${MAX_NESTING_DEPTH} levels of mappings and lists)`,
    ]);
    // Far deeper: the parser itself gives up (a stack overflow inside it), still one line.
    const abyss = configDir({ 'agent.yml': '['.repeat(100_000) });
    expect(errorsOf(abyss)).toEqual([
      `${join(abyss, 'agent.yml')}:1: YAML syntax error: nested too deeply (more than ${MAX_NESTING_DEPTH} levels of mappings and lists)`,
    ]);
  });

  it('finds duplicate keys in a mapping of 40,000 keys in well under a second', () => {
    const keys = Array.from({ length: 40_000 }, (_, i) => `k${i}: 1`);
    const dir = configDir({ 'agent.yml': [...keys, 'k7: 2', ''].join('\n') });
    const started = performance.now();
    expect(errorsOf(dir)).toEqual([
      `${join(dir, 'agent.yml')}:40001: YAML syntax error: Map keys must be unique`,
    ]);
    // yaml's own check compares every key with every other: 6 s for 25,000 keys.
    expect(performance.now() - started).toBeLessThan(2000);
  });

  it('lists 20 unknown keys of a file and counts the rest', () => {
    const keys = Array.from({ length: 5000 }, (_, i) => `unknown${i}: 1`).join('\n');
    const dir = configDir({ 'agent.yml': keys });
    const { refused, messages } = messagesOf({ configDir: dir });
    expect(refused).toBe(false);
    expect(messages).toHaveLength(21);
    expect(messages[0]).toBe(`${join(dir, 'agent.yml')}:1: unknown0: unknown key, ignored`);
    expect(messages[20]).toBe(`${join(dir, 'agent.yml')}: and 4980 more unknown keys, ignored (not listed)`);
  });
});

describe('what conf.d may point at', () => {
  it('refuses a FIFO, a device and a directory behind a link, without blocking on the FIFO', () => {
    const dir = configDir();
    const elsewhere = tempDir();
    execFileSync('mkfifo', [join(elsewhere, 'fifo')]);
    mkdirSync(join(elsewhere, 'folder'));
    symlinkSync(join(elsewhere, 'fifo'), join(dir, 'conf.d', 'a-fifo.yml'));
    symlinkSync('/dev/zero', join(dir, 'conf.d', 'b-zero.yml'));
    symlinkSync(join(elsewhere, 'folder'), join(dir, 'conf.d', 'c-folder.yml'));
    execFileSync('mkfifo', [join(dir, 'conf.d', 'd-direct.yml')]);
    expect(errorsOf(dir)).toEqual([
      `${join(dir, 'conf.d', 'a-fifo.yml')}: cannot read file (links to a named pipe (FIFO), expected a regular file)`,
      `${join(dir, 'conf.d', 'b-zero.yml')}: cannot read file (links to a character device, expected a regular file)`,
      `${join(dir, 'conf.d', 'c-folder.yml')}: cannot read file (EISDIR: is a directory, expected a file)`,
      `${join(dir, 'conf.d', 'd-direct.yml')}: cannot read file (is a named pipe (FIFO), expected a regular file)`,
    ]);
  });

  it('refuses a FIFO as encryption_key_file instead of hanging', () => {
    const dir = configDir({ 'agent.yml': 'encryption_key_file: key\n' });
    execFileSync('mkfifo', [join(dir, 'key')]);
    expect(errorsOf(dir)).toEqual([
      `${join(dir, 'agent.yml')}:1: encryption_key_file: cannot read ${join(dir, 'key')} (is a named pipe (FIFO), expected a regular file)`,
    ]);
  });

  const SHADOW = [
    'root:$y$j9T$SecretSaltRoot$ZmFrZWhhc2hyb290:19700:0:99999:7:::',
    'daemon:*:19700:0:99999:7:::',
    'alice:$6$SecretSaltAlice$ZmFrZWhhc2hhbGljZQ:19700:0:99999:7:::',
    '',
  ].join('\n');
  /** Text of the shadow-like file that must appear in no message. */
  const SHADOW_PARTS = ['root', 'daemon', 'alice', 'Secret', 'ZmFr', '$y$', '19700', '99999'];

  it('never quotes /etc/shadow behind a link: each line is "an unknown key" with its line number', () => {
    const dir = configDir();
    const shadow = join(tempDir(), 'shadow');
    writeFileSync(shadow, SHADOW);
    symlinkSync(shadow, join(dir, 'conf.d', 'x.yml'));
    const { refused, messages } = messagesOf({ configDir: dir });
    expect(refused).toBe(false);
    const file = join(dir, 'conf.d', 'x.yml');
    const hidden =
      'an unknown key, ignored (its name is not shown: the file is a symbolic link out of the config dir)';
    expect(messages).toEqual([`${file}:1: ${hidden}`, `${file}:2: ${hidden}`, `${file}:3: ${hidden}`]);
    for (const part of SHADOW_PARTS) expect(messages.join('\n')).not.toContain(part);
  });

  it('never quotes a key that does not look like a setting name, even in a file inside conf.d', () => {
    const dir = configDir();
    writeFileSync(join(dir, 'conf.d', 'copied.yml'), SHADOW);
    const { messages } = messagesOf({ configDir: dir });
    expect(messages).toHaveLength(3);
    expect(messages[0]).toBe(
      `${join(dir, 'conf.d', 'copied.yml')}:1: an unknown key, ignored (its name is not shown: the key does not look like a setting name)`,
    );
    for (const part of SHADOW_PARTS) expect(messages.join('\n')).not.toContain(part);
  });

  it('quotes neither keys nor values of a file linked from outside, even ones that look like settings', () => {
    const dir = configDir();
    const secrets = join(tempDir(), 'secrets.yml');
    writeFileSync(secrets, 'db_password: hunter2-secret\napi:\n  port: secret-port\n');
    symlinkSync(secrets, join(dir, 'conf.d', 'x.yml'));
    const messages = errorsOf(dir);
    const file = join(dir, 'conf.d', 'x.yml');
    expect(messages).toEqual([
      `${file}:3: expected an integer, got a string (its value is not shown: the file is a symbolic link out of the config dir)`,
      `${file}:1: an unknown key, ignored (its name is not shown: the file is a symbolic link out of the config dir)`,
    ]);
    for (const part of ['db_password', 'hunter2', 'secret-port'])
      expect(messages.join('\n')).not.toContain(part);
  });

  it('still quotes a file linked from inside the config dir', () => {
    const dir = configDir();
    mkdirSync(join(dir, 'shared'));
    writeFileSync(join(dir, 'shared', 'common.yml'), 'api:\n  port: "http"\n');
    symlinkSync(join(dir, 'shared', 'common.yml'), join(dir, 'conf.d', 'common.yml'));
    expect(errorsOf(dir)).toEqual([
      `${join(dir, 'conf.d', 'common.yml')}:2: api.port: expected an integer, got string "http"`,
    ]);
  });

  it('serves no line of the target in GET /agent/info (a read-only route any local user can call)', async () => {
    const dirs = await prepareAgentDirs(WITHOUT_PACKS);
    const shadow = join(dirs.root, 'shadow');
    writeFileSync(shadow, SHADOW);
    symlinkSync(shadow, join(dirs.configDir, 'conf.d', 'x.yml'));
    const agent = await startAgent(dirs);
    const reply = await httpGet(`http://127.0.0.1:${dirs.port}/agent/info`);
    expect(reply.status).toBe(200);
    const warnings = (JSON.parse(reply.body) as { config: { warnings: string[] } }).config.warnings;
    expect(warnings).toHaveLength(3);
    for (const part of SHADOW_PARTS) {
      expect(reply.body).not.toContain(part);
      expect(agent.output()).not.toContain(part);
    }
  });
});

/** A seeded generator (mulberry32): the fuzz is the same on every run. */
function random(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('fuzz: hostile files give one-line messages, never a stack trace', () => {
  const next = random(20_251_010);
  const garbage = (length: number) => Buffer.from(Array.from({ length }, () => Math.floor(next() * 256)));
  // Every input carries MARK somewhere; linked from outside the config dir, no message may show it.
  const MARK = 'SEKRETMARK';
  const hostile: Array<[string, string | Buffer]> = [
    ['deep flow nesting', `${'['.repeat(5000)}${MARK}`],
    ['deep block nesting', Array.from({ length: 3000 }, (_, d) => `${' '.repeat(d)}${MARK}${d}:`).join('\n')],
    ['deep block list', Array.from({ length: 3000 }, (_, d) => `${' '.repeat(d)}- ${MARK}`).join('\n')],
    ['a huge scalar', `node_name: ${MARK}${'x'.repeat(4 * MiB - 100)}\n`],
    ['a huge key', `${MARK}${'k'.repeat(100_000)}: 1\n`],
    ['a huge quoted key', `"${MARK}${'k'.repeat(100_000)}": 1\n`],
    ['binary garbage 1', Buffer.concat([garbage(5000), Buffer.from(MARK)])],
    ['binary garbage 2', Buffer.concat([Buffer.from(`${MARK}: `), garbage(20_000)])],
    ['binary garbage 3', Buffer.concat([garbage(100), Buffer.from(`\n${MARK}:\n  - `), garbage(100)])],
    ['a BOM then settings', `\uFEFFdatacenter: dc1\n${MARK}: 1\n`],
    ['two BOMs', `\uFEFF\uFEFF${MARK}: 1\n`],
    ['duplicate keys', `${MARK}: 1\n${MARK}: 2\n`],
    ['duplicate keys in a flow mapping', `log: {${MARK}: 1, ${MARK}: 2}\n`],
    ['tabs as indentation', `api:\n\t${MARK}: 1\n`],
    ['tabs everywhere', `\t${MARK}\t:\t1\t\n`],
    ['NUL bytes', `datacenter: dc1\0${MARK}\n\0\0\0`],
    ['invalid UTF-8', Buffer.concat([Buffer.from(`${MARK}: `), Buffer.from([0xc3, 0x28, 0xa0, 0xa1, 0xff])])],
    ['CRLF and lone CR', `datacenter: dc1\r\n${MARK}: 1\r\rlog: x\r\n`],
    [
      'an alias bomb',
      `a: &${MARK} [x, x, x, x, x, x, x, x, x, x]\n` +
        'b: [' +
        Array(200).fill(`*${MARK}`).join(', ') +
        ']\n',
    ],
    ['a self-referencing alias', `${MARK}: &a [*a]\n`],
    ['an unknown anchor', `datacenter: *${MARK}\n`],
    ['unknown tags', `datacenter: !${MARK} dc1\nnode_name: !!binary ${MARK}\n`],
    ['a directive', `%${MARK} x\n---\ndatacenter: dc1\n`],
    ['a YAML 1.1 directive', `%YAML 1.1\n---\n${MARK}: yes\n`],
    ['a bad escape', `datacenter: "\\q${MARK}"\n`],
    ['a block scalar header with text', `datacenter: |${MARK}\n  x\n`],
    ['a complex key', `? [${MARK}]\n: 1\n`],
    ['several documents', `${MARK}: 1\n---\n${MARK}: 2\n`],
    ['only a document marker', `--- ${MARK}\n`],
    ['an empty flow mapping key', `{: ${MARK}}\n`],
    ['a scalar at the top', `${MARK}\n`],
    ['a list at the top', `- ${MARK}\n- check: ${MARK}\n`],
    ['a definition with garbage', `collector: ${MARK}\n`],
    [
      'packs with odd names',
      `packs:\n  "${MARK} x": {enabled: false}\n  ${MARK}: {parameters: {"${MARK}!": 1}}\n`,
    ],
    ['settings of the wrong types', `api: ${MARK}\nlog: [${MARK}]\ngroups: ${MARK}\nbind_addr: ${MARK}\n`],
    ['values too long to show', `datacenter: ${MARK}${'x'.repeat(10_000)}\n`],
    ['many unknown keys', Array.from({ length: 20_000 }, (_, i) => `${MARK}${i}: 1`).join('\n')],
    ['many list items', `groups: [${Array(60_000).fill(MARK).join(', ')}]\n`],
    ['a quote never closed', `node_name: "${MARK}\n${'x: 1\n'.repeat(1000)}`],
  ];
  for (let index = 0; index < 20; index++) {
    const bytes = garbage(1 + Math.floor(next() * 4000));
    hostile.push([
      `random bytes #${index}`,
      Buffer.concat([
        bytes.subarray(0, bytes.length / 2),
        Buffer.from(MARK),
        bytes.subarray(bytes.length / 2),
      ]),
    ]);
  }

  const LOADS_WITHOUT_A_WORD = new Set(['a huge scalar', 'a directive']);
  it.each(hostile)('%s', (what, content) => {
    for (const linked of [false, true]) {
      const dir = configDir();
      const file = join(dir, 'conf.d', 'x.yml');
      if (linked) {
        const outside = join(tempDir(), 'target');
        writeFileSync(outside, content);
        symlinkSync(outside, file);
      } else {
        writeFileSync(file, content);
      }
      const started = performance.now();
      const { messages } = messagesOf({ configDir: dir, env: () => undefined });
      expect(performance.now() - started).toBeLessThan(10_000);
      // Every input here but two is wrong somewhere (at least its marker key is unknown): it says
      // so, and the checks below have messages to look at. The two load as they are: a 4 MiB
      // node_name (within the file's bound) and an unknown directive (YAML says to ignore it).
      if (LOADS_WITHOUT_A_WORD.has(what)) expect(messages).toEqual([]);
      else expect(messages.length).toBeGreaterThan(0);
      expect(messages.length).toBeLessThanOrEqual(2 * 21);
      for (const message of messages) {
        expect(message.startsWith(`${file}:`) || message.startsWith(`${file} `)).toBe(true);
        expect(message).not.toMatch(/\n|\s+at .*:\d+:\d+|Error:/);
        expect(message.length).toBeLessThan(file.length + 400);
        if (linked) expect(message).not.toContain(MARK);
      }
    }
  });
});
