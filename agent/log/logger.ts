// Structured logger for the agent: one line per event, a level, a message and key=value fields.
// Text (logfmt-like) for people, JSON for log shippers. Lines go through a bounded queue written
// without blocking (log-queue.ts): a stdout pipe nobody reads cannot stall the event loop; lines
// past the bound are dropped and counted. flushSync() writes the queue on fatal paths, so a crash
// does not lose the lines that explain it.
import { writeSync } from 'node:fs';
import { LogQueue, type LogQueueTimers, type LogTarget } from './log-queue.js';
import type { RotatingFile } from './rotating-file.js';

export const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
export type LogFormat = 'text' | 'json';
export type LogFields = Record<string, unknown>;

/** Where formatted lines go: stdout (fd 1) or a rotating file in the data dir. */
export type LogSink = { kind: 'fd'; fd: number } | { kind: 'file'; file: RotatingFile };

const levelRank: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

/** State shared by a logger and all its children, so a level change applies everywhere at once. */
interface LogOutput {
  level: LogLevel;
  format: LogFormat;
  queue: LogQueue;
}

export interface LoggerOptions {
  level: LogLevel;
  format: LogFormat;
  /** Default: stdout. */
  sink?: LogSink;
  /** Bytes of lines queued at most while the output is slow or blocked (default 1 MiB). */
  maxQueuedBytes?: number;
  /** How long flushSync waits for a full output (default 1 s). */
  flushDeadlineMs?: number;
  timers?: LogQueueTimers;
}

export class Logger {
  private constructor(
    private readonly output: LogOutput,
    private readonly fields: LogFields,
  ) {}

  static create(options: LoggerOptions): Logger {
    const format = options.format;
    const queue = new LogQueue({
      target: targetOf(options.sink ?? { kind: 'fd', fd: 1 }),
      dropNotice: (dropped) =>
        formatLine(format, 'warn', 'log lines dropped: the output did not keep up', {
          dropped_lines: dropped,
        }),
      maxQueuedBytes: options.maxQueuedBytes,
      flushDeadlineMs: options.flushDeadlineMs,
      timers: options.timers,
    });
    return new Logger({ level: options.level, format, queue }, {});
  }

  /** Lines dropped since start because the output did not keep up (or is gone). */
  get droppedLines(): number {
    return this.output.queue.droppedLines;
  }

  /**
   * Writes every queued line now, waiting a bounded time (1 s) for a full output: for fatal paths
   * and exit, where the process will not live to drain the queue.
   */
  flushSync(): void {
    this.output.queue.flushSync();
  }

  /** A logger that adds `fields` (e.g. {subsystem: 'api'}) to every line. */
  child(fields: LogFields): Logger {
    return new Logger(this.output, { ...this.fields, ...fields });
  }

  setLevel(level: LogLevel): void {
    this.output.level = level;
  }

  get level(): LogLevel {
    return this.output.level;
  }

  debug(msg: string, fields?: LogFields): void {
    this.write('debug', msg, fields);
  }
  info(msg: string, fields?: LogFields): void {
    this.write('info', msg, fields);
  }
  warn(msg: string, fields?: LogFields): void {
    this.write('warn', msg, fields);
  }
  error(msg: string, fields?: LogFields): void {
    this.write('error', msg, fields);
  }

  private write(level: LogLevel, msg: string, fields?: LogFields): void {
    if (levelRank[level] < levelRank[this.output.level]) return;
    const all = fields ? { ...this.fields, ...fields } : this.fields;
    this.output.queue.enqueue(formatLine(this.output.format, level, msg, all));
  }
}

function formatLine(format: LogFormat, level: LogLevel, msg: string, fields: LogFields): string {
  const time = new Date().toISOString();
  return format === 'json'
    ? JSON.stringify({ time, level, msg, ...serializable(fields) }) + '\n'
    : formatText(time, level, msg, fields);
}

/**
 * The target of a sink. A file takes every write (a disk does not stay full for long; a failed write
 * is RotatingFile's to handle). A descriptor is written with writeSync, which must not block: for
 * stdout and stderr, creating process.stdout (or stderr) puts a pipe in non-blocking mode (libuv does,
 * for its own asynchronous writes; the agent writes through the descriptor only), so a full pipe
 * answers EAGAIN and the queue retries later. A terminal stays blocking (Node keeps terminals
 * synchronous): one stopped with Ctrl-S still holds the agent, as any program writing to it.
 */
function targetOf(sink: LogSink): LogTarget {
  if (sink.kind === 'file') {
    const file = sink.file;
    return {
      writeSome: (bytes) => {
        file.write(bytes);
        return bytes.length;
      },
    };
  }
  const fd = sink.fd;
  if (fd === 1) void process.stdout;
  else if (fd === 2) void process.stderr;
  return {
    writeSome: (bytes) => {
      try {
        return writeSync(fd, bytes);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'EAGAIN') return 0;
        throw error;
      }
    },
  };
}

function serializable(fields: LogFields): LogFields {
  const out: LogFields = {};
  for (const [key, value] of Object.entries(fields)) {
    out[key] = value instanceof Error ? value.message : value;
  }
  return out;
}

function formatText(time: string, level: LogLevel, msg: string, fields: LogFields): string {
  let line = `${time} ${level.toUpperCase().padEnd(5)} ${msg}`;
  for (const [key, value] of Object.entries(fields)) {
    line += ` ${key}=${formatValue(value)}`;
  }
  return line + '\n';
}

function formatValue(value: unknown): string {
  const text =
    value instanceof Error ? value.message : typeof value === 'string' ? value : JSON.stringify(value);
  return /[\s"=]/.test(text ?? '') ? JSON.stringify(text) : (text ?? 'undefined');
}
