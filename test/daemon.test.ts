// The daemon's stderr file (where Node's last words on a crash land) is bounded: rotated at launch
// when over the limit, and cut back by the running agent, its tail kept in opsbro.stderr.1.
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  statSync,
  truncateSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { rotateAtLaunch, StderrFileCap } from '../agent/core/daemon.js';
import { cleanupAll, isAlive, prepareAgentDirs, runCli, tempDir } from './helpers/agent-process.js';

afterEach(cleanupAll);

describe('rotateAtLaunch', () => {
  it('moves a file over the limit to .1 (replacing the older one), leaves a smaller one alone', () => {
    const dir = tempDir();
    const path = join(dir, 'opsbro.stderr');
    writeFileSync(path, 'small\n');
    rotateAtLaunch(path, 100);
    expect(readFileSync(path, 'utf8')).toBe('small\n');
    writeFileSync(`${path}.1`, 'older\n');
    writeFileSync(path, 'x'.repeat(101));
    rotateAtLaunch(path, 100);
    expect(existsSync(path)).toBe(false);
    expect(readFileSync(`${path}.1`, 'utf8')).toBe('x'.repeat(101));
    rotateAtLaunch(join(dir, 'missing'), 100); // nothing to rotate: no error
  });
});

describe('StderrFileCap', () => {
  /** A file opened in append mode, as the daemon's fd 2 is. */
  function appendFile() {
    const path = join(tempDir(), 'opsbro.stderr');
    const fd = openSync(path, 'a', 0o600);
    return { path, fd, append: (text: string) => writeSync(fd, text) };
  }

  it('over the limit: keeps the last maxBytes in .1, empties the file, and later writes start at 0', () => {
    const { path, fd, append } = appendFile();
    try {
      const cap = new StderrFileCap({ path, fd, maxBytes: 1000 });
      append('a'.repeat(600));
      expect(cap.check()).toBe(false);
      append('b'.repeat(2400) + 'END\n');
      expect(cap.check()).toBe(true);
      expect(readFileSync(`${path}.1`, 'utf8')).toBe('b'.repeat(996) + 'END\n');
      expect(statSync(path).size).toBe(0);
      append('after\n');
      // Append mode: no hole of zeros where the old content was.
      expect(readFileSync(path, 'utf8')).toBe('after\n');
    } finally {
      closeSync(fd);
    }
  });

  it('checks on its interval (timers injected) and stops', () => {
    const { path, fd, append } = appendFile();
    const intervals: Array<{ callback: () => void; ms: number; cleared: boolean; unref(): void }> = [];
    try {
      const cap = new StderrFileCap({
        path,
        fd,
        maxBytes: 10,
        intervalMs: 60_000,
        timers: {
          setInterval: (callback, ms) => {
            const interval = { callback, ms, cleared: false, unref: () => undefined };
            intervals.push(interval);
            return interval;
          },
          clearInterval: (timer) => ((timer as (typeof intervals)[number]).cleared = true),
        },
      });
      cap.start();
      expect(intervals).toHaveLength(1);
      expect(intervals[0]!.ms).toBe(60_000);
      append('0123456789abcdef');
      intervals[0]!.callback();
      expect(statSync(path).size).toBe(0);
      expect(readFileSync(`${path}.1`, 'utf8')).toBe('6789abcdef');
      cap.stop();
      expect(intervals[0]!.cleared).toBe(true);
    } finally {
      closeSync(fd);
    }
  });

  it('does not copy another file moved in its place, but still cuts its own', () => {
    const { path, fd, append } = appendFile();
    try {
      append('x'.repeat(50));
      renameSync(path, `${path}.moved`);
      writeFileSync(path, 'someone else\n');
      expect(new StderrFileCap({ path, fd, maxBytes: 10 }).check()).toBe(true);
      expect(existsSync(`${path}.1`)).toBe(false);
      expect(statSync(`${path}.moved`).size).toBe(0);
    } finally {
      closeSync(fd);
    }
  });
});

describe('agent start --daemon', () => {
  it('rotates an oversized opsbro.stderr at launch (log.max_size_mb)', async () => {
    const dirs = await prepareAgentDirs('log:\n  max_size_mb: 1\n');
    const stderrFile = join(dirs.dataDir, 'logs', 'opsbro.stderr');
    mkdirSync(join(dirs.dataDir, 'logs'), { recursive: true, mode: 0o700 });
    writeFileSync(stderrFile, 'old crash\n');
    truncateSync(stderrFile, 3 * 1024 * 1024);
    const result = runCli([
      'agent',
      'start',
      '--config-dir',
      dirs.configDir,
      '--data-dir',
      dirs.dataDir,
      '--daemon',
    ]);
    expect(result.code).toBe(0);
    const pid = Number(/pid (\d+)/.exec(result.stdout)?.[1]);
    try {
      expect(statSync(`${stderrFile}.1`).size).toBe(3 * 1024 * 1024);
      expect(readFileSync(`${stderrFile}.1`, 'utf8').startsWith('old crash\n')).toBe(true);
      expect(statSync(stderrFile).size).toBeLessThan(1024 * 1024);
    } finally {
      runCli(['agent', 'stop', '--api', `unix:${join(dirs.dataDir, 'api.sock')}`]);
      if (pid && isAlive(pid)) process.kill(pid, 'SIGKILL');
    }
  });
});
