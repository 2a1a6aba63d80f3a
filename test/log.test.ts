// The agent's log: levels, text and JSON lines, size-based rotation of the daemon's log file, and
// the bounded asynchronous queue (a stdout pipe nobody reads must not stall the agent; a crash flushes).
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { closeSync, constants, existsSync, openSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { Socket } from 'node:net';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { Logger, LogQueue, type LogQueueTimers, type LogTarget, RotatingFile } from '../agent/log/index.js';
import { cleanupAll, REPO_ROOT, tempDir } from './helpers/agent-process.js';

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
    const read = () => {
      // Lines are queued and written a turn later: flush to read them now.
      logger.flushSync();
      return readFileSync(path, 'utf8').trim().split('\n');
    };
    return { logger, read };
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

/** Timers driven by the test: nothing runs until it says so, and sleepSync moves the clock. */
function manualTimers() {
  let now = 0;
  let due: Array<{ at: number; run: () => void }> = [];
  const timers: LogQueueTimers = {
    setImmediate: (run) => (due.push({ at: now, run }), {}),
    setTimeout: (run, ms) => (due.push({ at: now + ms, run }), {}),
    sleepSync: (ms) => void (now += ms),
    now: () => now,
  };
  /** Runs what is due within `ms` from now, in time order, moving the clock. */
  const advance = (ms = 0) => {
    const until = now + ms;
    for (;;) {
      const next = due.filter((timer) => timer.at <= until).sort((a, b) => a.at - b.at)[0];
      if (!next) break;
      due = due.filter((timer) => timer !== next);
      now = Math.max(now, next.at);
      next.run();
    }
    now = until;
  };
  return { timers, advance, pending: () => due.length };
}

/** An output that takes `capacity` bytes per call (0: full), recording what it took. */
function fakeOutput() {
  const output = { written: '', capacity: Infinity, calls: 0, fail: false };
  const target: LogTarget = {
    writeSome(bytes) {
      output.calls++;
      if (output.fail) throw Object.assign(new Error('write EPIPE'), { code: 'EPIPE' });
      const taken = Math.min(bytes.length, output.capacity);
      output.written += bytes.subarray(0, taken).toString();
      return taken;
    },
  };
  return { output, target };
}

describe('LogQueue', () => {
  const notice = (dropped: number) => `dropped ${dropped}\n`;

  it('writes nothing in the caller: lines go out on the next turn, in order', () => {
    const { timers, advance } = manualTimers();
    const { output, target } = fakeOutput();
    const queue = new LogQueue({ target, dropNotice: notice, timers });
    queue.enqueue('one\n');
    queue.enqueue('two\n');
    expect(output.calls).toBe(0);
    advance();
    expect(output.written).toBe('one\ntwo\n');
  });

  it('bounds the queue while the output is full, counts drops, and reports them before the next line that gets through', () => {
    const { timers, advance } = manualTimers();
    const { output, target } = fakeOutput();
    output.capacity = 0;
    const queue = new LogQueue({ target, dropNotice: notice, timers, maxQueuedBytes: 100 });
    for (let n = 0; n < 50; n++) queue.enqueue(`line ${String(n).padStart(3, '0')}\n`); // 9 bytes each
    expect(queue.droppedLines).toBe(39); // 11 lines fit in 100 bytes
    advance(5000); // retries with backoff, the output still full
    expect(output.written).toBe('');
    output.capacity = Infinity;
    advance(1000); // the next retry takes the queue
    expect(output.written).toBe(
      Array.from({ length: 11 }, (_, n) => `line ${String(n).padStart(3, '0')}\n`).join(''),
    );
    queue.enqueue('after\n');
    advance();
    expect(output.written.endsWith('line 010\ndropped 39\nafter\n')).toBe(true);
    expect(queue.droppedLines).toBe(39);
  });

  it('keeps lines whole and in order through partial writes', () => {
    const { timers, advance } = manualTimers();
    const { output, target } = fakeOutput();
    output.capacity = 3;
    const queue = new LogQueue({ target, dropNotice: notice, timers });
    const lines = Array.from({ length: 20 }, (_, n) => `line number ${n}\n`);
    for (const line of lines) queue.enqueue(line);
    advance(60_000);
    expect(output.written).toBe(lines.join(''));
  });

  it('flushSync writes the queue at once, and gives up on a full output at its deadline, counting the rest', () => {
    const { timers } = manualTimers();
    const { output, target } = fakeOutput();
    const queue = new LogQueue({ target, dropNotice: notice, timers, flushDeadlineMs: 500 });
    queue.enqueue('a\n');
    queue.enqueue('b\n');
    queue.flushSync();
    expect(output.written).toBe('a\nb\n');

    output.capacity = 0;
    queue.enqueue('c\n');
    queue.enqueue('d\n');
    const before = timers.now();
    queue.flushSync();
    expect(timers.now() - before).toBe(500);
    expect(queue.droppedLines).toBe(2);
    output.capacity = Infinity;
    queue.enqueue('e\n');
    queue.flushSync();
    expect(output.written).toBe('a\nb\ndropped 2\ne\n');
  });

  it('drops and counts everything once the output is gone (EPIPE), without throwing', () => {
    const { timers, advance } = manualTimers();
    const { output, target } = fakeOutput();
    output.fail = true;
    const queue = new LogQueue({ target, dropNotice: notice, timers });
    queue.enqueue('a\n');
    queue.enqueue('b\n');
    advance();
    queue.enqueue('c\n');
    queue.flushSync();
    expect(queue.droppedLines).toBe(3);
  });
});

/** A child process running `body` with `Logger` imported from the build; messages over IPC. */
function loggerChild(body: string, stdout: 'pipe' | number): ChildProcess {
  const logModule = pathToFileURL(join(REPO_ROOT, 'dist', 'agent', 'log', 'index.js')).href;
  const script = `const { Logger } = await import(${JSON.stringify(logModule)});\n${body}`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
    stdio: ['ignore', stdout, 'pipe', 'ipc'],
  });
  children.push(child);
  return child;
}

const children: ChildProcess[] = [];
afterEach(() => {
  for (const child of children.splice(0)) child.kill('SIGKILL');
});

/** The next IPC message of `child`, or a failure after `timeoutMs` (with what it printed on stderr). */
function nextMessage<T>(child: ChildProcess, timeoutMs = 15_000): Promise<T> {
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`no message from the child within ${timeoutMs} ms: ${stderr}`)),
      timeoutMs,
    );
    child.once('message', (message) => {
      clearTimeout(timer);
      resolve(message as T);
    });
  });
}

describe('Logger on a stdout pipe nobody reads', () => {
  it('returns from a burst at once, counts the drops, keeps the event loop responsive, and a flush is bounded', async () => {
    const fifo = join(tempDir(), 'stdout.fifo');
    execFileSync('mkfifo', [fifo]);
    // Opened for reading and writing: the open does not wait for a reader, and nobody reads.
    const fifoFd = openSync(fifo, 'r+');
    const child = loggerChild(
      `
      const logger = Logger.create({ level: 'info', format: 'text', flushDeadlineMs: 300 });
      const pad = 'x'.repeat(150);
      let started = performance.now();
      for (let i = 0; i < 20000; i++) logger.info('burst', { i, pad });
      const burstMs = performance.now() - started;
      // A 10 ms timer while the queue keeps retrying the full pipe: how late does it fire?
      started = performance.now();
      setTimeout(() => {
        const timerLateMs = performance.now() - started - 10;
        const flushStarted = performance.now();
        logger.flushSync();
        const flushMs = performance.now() - flushStarted;
        process.send({ burstMs, timerLateMs, flushMs, dropped: logger.droppedLines });
      }, 10);
      process.on('message', () => {
        logger.info('after the reader came back');
        process.send({ dropped: logger.droppedLines });
      });
      `,
      fifoFd,
    );
    closeSync(fifoFd);
    const measured = await nextMessage<{
      burstMs: number;
      timerLateMs: number;
      flushMs: number;
      dropped: number;
    }>(child);
    // 20,000 lines of 200 bytes: 4 MB against a 64 KiB pipe and a 1 MiB queue.
    expect(measured.burstMs).toBeLessThan(2000);
    expect(measured.timerLateMs).toBeLessThan(500);
    expect(measured.flushMs).toBeLessThan(2000);
    expect(measured.dropped).toBeGreaterThan(10_000);

    // A reader at last: the queue drains, and the drops are reported before the next line.
    const reader = new Socket({
      fd: openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK),
      readable: true,
      writable: false,
    });
    let received = '';
    const sawAfter = new Promise<void>((resolve) =>
      reader.on('data', (chunk: Buffer) => {
        received += chunk.toString();
        if (received.includes('after the reader came back')) resolve();
      }),
    );
    child.send('log');
    const { dropped } = await nextMessage<{ dropped: number }>(child);
    await sawAfter;
    reader.destroy();
    const lines = received.trimEnd().split('\n');
    expect(lines.at(-1)).toMatch(/ INFO {2}after the reader came back$/);
    expect(lines.at(-2)).toMatch(
      new RegExp(` WARN {2}log lines dropped: the output did not keep up dropped_lines=${dropped}$`),
    );
  });

  it('flushes what is queued on a fatal error, so the lines before a crash are not lost', async () => {
    const child = loggerChild(
      `
      const logger = Logger.create({ level: 'info', format: 'text' });
      process.on('uncaughtException', (error) => {
        logger.error('uncaught exception', { error });
        logger.flushSync();
        process.exit(1);
      });
      for (let i = 0; i < 3000; i++) logger.info('before the crash', { i });
      throw new Error('boom');
      `,
      'pipe',
    );
    let stdout = '';
    child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
    expect(code).toBe(1);
    const lines = stdout.trimEnd().split('\n');
    expect(lines).toHaveLength(3001);
    expect(lines[2999]).toMatch(/ INFO {2}before the crash i=2999$/);
    expect(lines[3000]).toMatch(/ ERROR uncaught exception error=boom$/);
  });
});
