// Issue 10: `mkfifo /tmp/f` and 6 × `grep('x', '/tmp/f')` parked every libuv pool thread in an
// open() waiting for a writer, so every later file function and host_to_ip answered "did not
// answer within 15 s" until something wrote to the pipe. Only regular files are read now: a FIFO,
// a socket or a device is "missing" (False, or the default), at once, and nothing is left waiting.
import { execFileSync } from 'node:child_process';
import { closeSync, constants, mkdirSync, openSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Evaluator } from '../../agent/evaluator/index.js';
import { fakeProviders, fixtureRoot, removeFixtureRoots } from './helpers.js';

const root = fixtureRoot(
  { '/etc/hostname': 'box\n', '/etc/passwd': 'root:x:0:0::/root:/bin/sh\n' },
  { '/dev/zero': '/dev/zero', '/dev/null': '/dev/null', '/dev/urandom': '/dev/urandom' },
);
const fifo = join(root, 'tmp', 'f');
const passwdFifo = join(root, 'fifo-root', 'etc', 'passwd');
const socketPath = join(root, 'run', 'app.sock');
let server: Server;

beforeAll(async () => {
  mkdirSync(join(root, 'tmp'));
  mkdirSync(join(root, 'fifo-root', 'etc'), { recursive: true });
  mkdirSync(join(root, 'run'));
  execFileSync('mkfifo', [fifo, passwdFifo]);
  server = createServer();
  await new Promise<void>((resolve) => server.listen(socketPath, resolve));
});

afterAll(async () => {
  // Should a reader still wait in open() (the bug), a writer that comes and goes releases it.
  for (const path of [fifo, passwdFifo]) {
    try {
      closeSync(openSync(path, constants.O_WRONLY | constants.O_NONBLOCK));
    } catch {
      // ENXIO: no reader waits, as it should be.
    }
  }
  await new Promise((resolve) => server.close(resolve));
  removeFixtureRoots();
});

const evaluator = new Evaluator(fakeProviders({ root }));

describe('files that are not regular files', () => {
  it('answers a FIFO read by 8 concurrent evaluations as missing, and later reads and lookups still answer', async () => {
    const fifoReads = await Promise.all(
      Array.from({ length: 8 }, (_, index) => evaluator.evaluate(`grep('x${index}', '/tmp/f')`)),
    );
    expect(fifoReads).toEqual(Array.from({ length: 8 }, () => false));
    expect(await evaluator.evaluate("grep_file('^x', '/tmp/f', True)")).toBe(false);
    expect(await evaluator.evaluate("parse_json_file('/tmp/f', 'a', 'none')")).toBe('none');
    const fifoPasswd = new Evaluator(fakeProviders({ root: join(root, 'fifo-root') }));
    expect(await fifoPasswd.evaluate("system_user_exists('root')")).toBe(false);

    const startedMs = Date.now();
    expect(await evaluator.evaluate("grep('box', '/etc/hostname')")).toBe(true);
    expect(await evaluator.evaluate("host_to_ip('localhost')")).toBe('127.0.0.1');
    expect(await evaluator.evaluate("system_user_exists('root')")).toBe(true);
    expect(Date.now() - startedMs).toBeLessThan(2000);
    expect(evaluator.load().io).toEqual({ running: 0, waiting: 0 });
  });

  it('does not read devices: /dev/zero is missing, not 16 MiB of NUL bytes', async () => {
    const startedMs = Date.now();
    expect(await evaluator.evaluate("parse_json_file('/dev/zero', 'a', 'none')")).toBe('none');
    expect(await evaluator.evaluate("grep('x', '/dev/urandom')")).toBe(false);
    expect(await evaluator.evaluate("grep('', '/dev/null')")).toBe(false);
    expect(Date.now() - startedMs).toBeLessThan(2000);
  });

  it('does not read a unix socket, though it exists', async () => {
    expect(await evaluator.evaluate("grep('x', '/run/app.sock')")).toBe(false);
    expect(await evaluator.evaluate("parse_json_file('/run/app.sock', 'a', 0)")).toBe(0);
    expect(await evaluator.evaluate("file_exists('/run/app.sock')")).toBe(true);
    expect(await evaluator.evaluate("file_exists('/tmp/f') and not is_dir('/tmp/f')")).toBe(true);
  });
});
