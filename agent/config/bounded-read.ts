// Reading a configuration file (or a key file) with bounds: regular files only (a named pipe would
// block the load for good, a device never ends), refused before parsing when larger than a limit,
// and read with a bounded read, so a file that grows while it is read cannot grow the agent.
//
// The limit cannot be a setting: settings come from the very files it guards. It is a constant
// (4 MiB; the shipped configuration and packs hold about 100 KB in all) that the environment can
// raise or lower (OPSBRO_MAX_CONFIG_FILE_BYTES), documented in docs/configuration.md.
import { formatBytes } from '../shared/format.js';
import {
  closeSync,
  constants,
  fstatSync,
  lstatSync,
  openSync,
  readSync,
  statSync,
  type Stats,
} from 'node:fs';
import { messageOf } from '../shared/errors.js';

export const DEFAULT_MAX_CONFIG_FILE_BYTES = 4 * 1024 * 1024;

/** The environment variable that overrides DEFAULT_MAX_CONFIG_FILE_BYTES (a number of bytes). */
export const MAX_CONFIG_FILE_BYTES_ENV = 'OPSBRO_MAX_CONFIG_FILE_BYTES';

/** Why a file was not read: unreadable (missing, not a regular file, permissions) or too large. */
export class BoundedReadError extends Error {
  constructor(
    /** `cannot read file (...)` or `too large (...)`: the problem as an operator reads it after `file: `. */
    readonly problem: string,
    /** The part in parentheses for unreadable files (`ENOENT: no such file`), else undefined. */
    readonly reason?: string,
  ) {
    super(problem);
    this.name = 'BoundedReadError';
  }
}

/**
 * The bytes of the regular file at `path` (a symbolic link is followed to a regular file only), at
 * most `maxBytes`; throws BoundedReadError otherwise. Never blocks on a FIFO: the type is checked
 * before opening, and the open is non-blocking in case the path was swapped in between.
 */
export function readBoundedFile(path: string, maxBytes: number): Buffer {
  let stats: Stats;
  try {
    stats = statSync(path);
  } catch (error) {
    throw unreadable(describeFsError(error));
  }
  checkRegular(path, stats);
  if (stats.size > maxBytes) throw tooLarge(`${stats.size} bytes`, maxBytes);
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
  } catch (error) {
    throw unreadable(describeFsError(error));
  }
  try {
    const opened = fstatSync(fd);
    checkRegular(path, opened);
    // One byte more than allowed: reading it proves the file grew past the limit since the stat.
    let buffer = Buffer.allocUnsafe(Math.min(opened.size, maxBytes) + 1);
    let length = 0;
    for (;;) {
      if (length === buffer.length) {
        if (length > maxBytes) throw tooLarge(`more than ${maxBytes} bytes, still growing`, maxBytes);
        const bigger = Buffer.allocUnsafe(Math.min(buffer.length * 2, maxBytes + 1));
        buffer.copy(bigger, 0, 0, length);
        buffer = bigger;
      }
      const read = readSync(fd, buffer, length, buffer.length - length, null);
      if (read === 0) break;
      length += read;
    }
    if (length > maxBytes) throw tooLarge(`more than ${maxBytes} bytes, still growing`, maxBytes);
    return buffer.subarray(0, length);
  } catch (error) {
    if (error instanceof BoundedReadError) throw error;
    throw unreadable(describeFsError(error));
  } finally {
    closeSync(fd);
  }
}

/** The limit of one configuration file: OPSBRO_MAX_CONFIG_FILE_BYTES when set, else 4 MiB. */
export function maxConfigFileBytes(env: (name: string) => string | undefined): number {
  const raw = env(MAX_CONFIG_FILE_BYTES_ENV);
  if (raw === undefined || raw.trim() === '') return DEFAULT_MAX_CONFIG_FILE_BYTES;
  const value = Number(raw.trim());
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new Error(
      `environment variable ${MAX_CONFIG_FILE_BYTES_ENV}: expected a number of bytes such as 8388608, got ${JSON.stringify(raw.slice(0, 20))}`,
    );
  }
  return value;
}

function checkRegular(path: string, stats: Stats): void {
  if (stats.isFile()) return;
  if (stats.isDirectory()) throw unreadable('EISDIR: is a directory, expected a file');
  const link = lstatSync(path, { throwIfNoEntry: false })?.isSymbolicLink() ? 'links to ' : 'is ';
  throw unreadable(`${link}${fileType(stats)}, expected a regular file`);
}

function fileType(stats: Stats): string {
  if (stats.isFIFO()) return 'a named pipe (FIFO)';
  if (stats.isCharacterDevice()) return 'a character device';
  if (stats.isBlockDevice()) return 'a block device';
  if (stats.isSocket()) return 'a socket';
  return 'not a regular file';
}

function unreadable(reason: string): BoundedReadError {
  return new BoundedReadError(`cannot read file (${reason})`, reason);
}

function tooLarge(size: string, maxBytes: number): BoundedReadError {
  return new BoundedReadError(`too large (${size}, limit ${formatBytes(maxBytes)})`);
}

export function describeFsError(error: unknown): string {
  if (error instanceof Error && 'code' in error) {
    const code = String((error as NodeJS.ErrnoException).code);
    const reasons: Record<string, string> = {
      ENOENT: 'no such file',
      EACCES: 'permission denied',
      EISDIR: 'is a directory, expected a file',
      ENOTDIR: 'a parent is not a directory',
      ELOOP: 'too many symbolic links',
    };
    return `${code}: ${reasons[code] ?? error.message}`;
  }
  return messageOf(error);
}
