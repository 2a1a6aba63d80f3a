// Review of issue 10: a file was stat'ed by name, then opened by name, so a name swapped in between
// made the agent (root) open() whatever it was swapped to: a FIFO, or a device whose open has side
// effects (/dev/watchdog, a tape that rewinds). And stat() took the stat and the real path in two
// lookups, so a swap could tell a protected file's existence and size. On Linux the name is now
// pinned once with O_PATH (which opens nothing), judged on that descriptor, and only that same
// file is opened, through /proc/self/fd/N.
//
// The swaps run in another process, in a tight loop, while this one reads. A FIFO's opening is
// seen from a writer blocked in open(O_WRONLY): any open of the FIFO for reading, however brief,
// releases it.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { ExpressionError } from '../../agent/evaluator/index.js';
import { HostAccess } from '../../agent/evaluator/host/host-access.js';
import { fixtureRoot, removeFixtureRoots, waitFor } from './helpers.js';

afterAll(removeFixtureRoots);

const children: ChildProcess[] = [];
afterEach(() => {
  for (const child of children.splice(0)) child.kill('SIGKILL');
});

const READS = 2000;

/** A Node process running `script` with `args`, and what it printed so far. */
function child(script: string, args: string[]): { process: ChildProcess; output: () => string } {
  const started = spawn(process.execPath, ['-e', script, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(started);
  let output = '';
  started.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  return { process: started, output: () => output };
}

/** Re-points `target` between two existing names, as fast as it can: links (or symlinks) and renames. */
const SWAPPER = `
const fs = require('node:fs');
const [mode, first, second, target] = process.argv.slice(1);
const temporary = target + '.next';
process.stdout.write('swapping\\n');
for (let i = 0; ; i++) {
  fs.rmSync(temporary, { force: true });
  if (mode === 'hardlink') fs.linkSync(i % 2 ? second : first, temporary);
  else fs.symlinkSync(i % 2 ? second : first, temporary);
  fs.renameSync(temporary, target);
}
`;

/** Opens the FIFO for writing (blocks until some reader opens it), then says so and stays. */
const FIFO_WRITER = `
const fs = require('node:fs');
process.stdout.write('waiting\\n');
fs.openSync(process.argv[1], 'w');
process.stdout.write('a reader opened the FIFO\\n');
setInterval(() => undefined, 60_000);
`;

async function startSwapper(mode: 'hardlink' | 'symlink', first: string, second: string, target: string) {
  const swapper = child(SWAPPER, [mode, first, second, target]);
  await waitFor(() => swapper.output().includes('swapping'), 'the swapper started');
  return swapper;
}

describe('a name swapped while it is being read', () => {
  it('never opens the FIFO it is swapped to, in 2000 reads of a name flipping between a file and a FIFO', async () => {
    const root = fixtureRoot({ '/regular': 'x\n' });
    const fifo = join(root, 'fifo');
    execFileSync('mkfifo', [fifo]);
    const writer = child(FIFO_WRITER, [fifo]);
    await waitFor(() => writer.output().includes('waiting'), 'the FIFO writer started');
    const swapped = join(root, 'swapped');
    await startSwapper('hardlink', join(root, 'regular'), fifo, swapped);
    const host = new HostAccess({ root: '/', protectedPaths: [] });

    const outcomes = { file: 0, notAFile: 0 };
    for (let read = 0; read < READS; read++) {
      const text = await host.readFile(swapped);
      if (text === 'x\n') outcomes.file++;
      else outcomes.notAFile++;
    }
    // Both were seen: the swaps ran during the reads.
    expect(outcomes.file).toBeGreaterThan(0);
    expect(outcomes.notAFile).toBeGreaterThan(0);
    expect(writer.output()).not.toContain('a reader opened the FIFO');
    expect(writer.process.exitCode).toBeNull();
  });

  it("never tells a protected file's identity through stat, in 2000 stats of a link flipping between it and a readable file", async () => {
    const root = fixtureRoot({
      '/data/keyring.json': '{"primary": "SECRET"}',
      '/outside/plain.txt': 'hello\n',
    });
    const keyring = join(root, 'data', 'keyring.json');
    const plain = join(root, 'outside', 'plain.txt');
    const link = join(root, 'outside', 'link');
    const host = new HostAccess({
      root: '/',
      protectedPaths: [{ path: join(root, 'data'), what: 'the data dir' }],
    });
    const protectedIno = statSync(keyring, { bigint: true }).ino;
    await startSwapper('symlink', keyring, plain, link);

    const outcomes = { refused: 0, told: 0, missing: 0, protectedTold: 0 };
    for (let call = 0; call < READS; call++) {
      let stats;
      try {
        stats = await host.stat(link, true);
      } catch (error) {
        expect(error).toBeInstanceOf(ExpressionError);
        outcomes.refused++;
        continue;
      }
      if (!stats) outcomes.missing++;
      else if (stats.ino === protectedIno) outcomes.protectedTold++;
      else outcomes.told++;
    }
    expect(outcomes.protectedTold).toBe(0);
    expect(outcomes.refused).toBeGreaterThan(0);
    expect(outcomes.told).toBeGreaterThan(0);
  });
});

describe('without O_PATH or /proc (the fallback)', () => {
  const root = fixtureRoot({
    '/data/keyring.json': '{"primary": "SECRET"}',
    '/outside/plain.txt': 'hello\n',
  });
  mkdirSync(join(root, 'pipes'));
  const fifo = join(root, 'pipes', 'f');
  execFileSync('mkfifo', [fifo]);
  writeFileSync(join(root, 'outside', 'list.txt'), 'a\n');
  const host = new HostAccess(
    { root: '/', protectedPaths: [{ path: join(root, 'data'), what: 'the data dir' }] },
    { pinFiles: false },
  );

  it('still reads regular files, refuses protected ones and answers a FIFO as missing', async () => {
    expect(await host.readFile(join(root, 'outside', 'plain.txt'))).toBe('hello\n');
    await expect(host.readFile(join(root, 'data', 'keyring.json'))).rejects.toThrow(/is in the data dir/);
    await expect(host.stat(join(root, 'data', 'keyring.json'), true)).rejects.toThrow(/is in the data dir/);
    expect(await host.readFile(fifo)).toBeUndefined();
    expect((await host.stat(fifo, false))?.isFIFO()).toBe(true);
  });
});
