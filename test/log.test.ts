// The agent's log: levels, text and JSON lines, and size-based rotation of the daemon's log file.
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Logger, RotatingFile } from '../agent/log/index.js';
import { cleanupAll, tempDir } from './helpers/agent-process.js';

afterEach(cleanupAll);

describe('RotatingFile', () => {
  it('rotates past the size limit and keeps only the configured number of old files', () => {
    const dir = tempDir();
    const path = join(dir, 'logs', 'opsbro.log');
    const file = new RotatingFile(path, 100, 2);
    const line = (n: number) => `line ${String(n).padStart(3, '0')} ${'x'.repeat(30)}\n`; // 40 bytes
    for (let n = 0; n < 10; n++) file.write(line(n));
    file.close();
    expect(readdirSync(join(dir, 'logs')).sort()).toEqual(['opsbro.log', 'opsbro.log.1', 'opsbro.log.2']);
    // 2 lines (80 bytes) fit under 100; the third would not, so each file holds two lines.
    expect(readFileSync(path, 'utf8')).toBe(line(8) + line(9));
    expect(readFileSync(`${path}.1`, 'utf8')).toBe(line(6) + line(7));
    expect(readFileSync(`${path}.2`, 'utf8')).toBe(line(4) + line(5));
  });

  it('appends to an existing file and counts its size', () => {
    const path = join(tempDir(), 'opsbro.log');
    const first = new RotatingFile(path, 50, 1);
    first.write('a'.repeat(40) + '\n');
    first.close();
    const second = new RotatingFile(path, 50, 1);
    second.write('b'.repeat(20) + '\n');
    second.close();
    expect(readFileSync(`${path}.1`, 'utf8')).toBe('a'.repeat(40) + '\n');
    expect(readFileSync(path, 'utf8')).toBe('b'.repeat(20) + '\n');
  });

  it('with keep 0, starts over without keeping old files', () => {
    const path = join(tempDir(), 'opsbro.log');
    const file = new RotatingFile(path, 10, 0);
    file.write('0123456789\n');
    file.write('abc\n');
    file.close();
    expect(existsSync(`${path}.1`)).toBe(false);
    expect(readFileSync(path, 'utf8')).toBe('abc\n');
  });
});

describe('Logger', () => {
  const logTo = (format: 'text' | 'json') => {
    const path = join(tempDir(), 'agent.log');
    const file = new RotatingFile(path, 1 << 20, 1);
    const logger = Logger.create({ level: 'info', format, sink: { kind: 'file', file } });
    return { logger, read: () => readFileSync(path, 'utf8').trim().split('\n') };
  };

  it('writes text lines with level, message and quoted fields; drops lines below the level', () => {
    const { logger, read } = logTo('text');
    const api = logger.child({ subsystem: 'api' });
    api.debug('not shown');
    api.info('listening', { address: '127.0.0.1:6768', note: 'two words' });
    logger.setLevel('debug');
    api.debug('now shown');
    expect(read()).toEqual([
      expect.stringMatching(
        /^\d{4}-\d\d-\d\dT[\d:.]+Z INFO {2}listening subsystem=api address=127.0.0.1:6768 note="two words"$/,
      ),
      expect.stringMatching(/ DEBUG now shown subsystem=api$/),
    ]);
  });

  it('writes one JSON object per line, errors as their message', () => {
    const { logger, read } = logTo('json');
    logger.error('failed', { error: new Error('boom'), attempt: 2 });
    const [line] = read();
    const time: unknown = expect.any(String);
    expect(JSON.parse(line!) as unknown).toEqual({
      time,
      level: 'error',
      msg: 'failed',
      error: 'boom',
      attempt: 2,
    });
  });
});

describe('RotatingFile when the log is removed under it', () => {
  it('keeps logging to a fresh file', () => {
    const dir = tempDir();
    const path = join(dir, 'opsbro.log');
    const file = new RotatingFile(path, 30, 2);
    file.write('a'.repeat(20) + '\n');
    rmSync(path);
    file.write('b'.repeat(20) + '\n'); // rotation: the rename fails, a fresh file opens
    file.write('c\n');
    file.close();
    expect(readFileSync(path, 'utf8')).toBe('b'.repeat(20) + '\n' + 'c\n');
  });
});
