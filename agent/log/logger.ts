// Structured logger for the agent: one line per event, a level, a message and key=value fields.
// Text (logfmt-like) for people, JSON for log shippers; written synchronously so a crash
// never loses the lines that explain it.
import { writeSync } from 'node:fs';
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
  sink: LogSink;
}

export class Logger {
  private constructor(
    private readonly output: LogOutput,
    private readonly fields: LogFields,
  ) {}

  static create(options: { level: LogLevel; format: LogFormat; sink?: LogSink }): Logger {
    return new Logger(
      { level: options.level, format: options.format, sink: options.sink ?? { kind: 'fd', fd: 1 } },
      {},
    );
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
    const time = new Date().toISOString();
    const line =
      this.output.format === 'json'
        ? JSON.stringify({ time, level, msg, ...serializable(all) }) + '\n'
        : formatText(time, level, msg, all);
    const sink = this.output.sink;
    if (sink.kind === 'file') sink.file.write(line);
    else {
      try {
        writeSync(sink.fd, line);
      } catch {
        // stdout closed (e.g. a pipe reader went away): logging must never take the agent down.
      }
    }
  }
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
