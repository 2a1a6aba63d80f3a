// Replacing a file in the data dir so that a crash at any instant, or a power cut, leaves either
// the old content or the new one, never a mix or nothing: write a temporary file beside it, fsync
// it, rename it over the target (atomic on POSIX), then fsync the directory so the rename itself
// is on disk. The keyring depends on it: a node must restart with the keyring it announced.
import { randomBytes } from 'node:crypto';
import {
  closeSync,
  constants,
  fsyncSync,
  openSync,
  readdirSync,
  renameSync,
  rmSync,
  writeSync,
} from 'node:fs';
import { basename, dirname, join } from 'node:path';

const TEMPORARY_MARK = '.tmp-';

/** Writes `content` to `path` atomically and durably; the file gets `mode` (0600 by default). */
export function writeFileAtomic(path: string, content: string, mode = 0o600): void {
  const temporary = `${path}${TEMPORARY_MARK}${process.pid}-${randomBytes(4).toString('hex')}`;
  // O_EXCL and O_NOFOLLOW: never write through a file or symlink someone planted under that name.
  const fd = openSync(
    temporary,
    constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW,
    mode,
  );
  try {
    try {
      writeSync(fd, content);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(temporary, path);
  } catch (error) {
    rmSync(temporary, { force: true });
    throw error;
  }
  syncDirectory(dirname(path));
}

/**
 * Removes the temporary files a crash left beside `path` (a crash between the write and the
 * rename): they are never the current content, and would pile up otherwise.
 */
export function removeStaleTemporaries(path: string): void {
  const prefix = `${basename(path)}${TEMPORARY_MARK}`;
  for (const name of readdirSync(dirname(path))) {
    if (name.startsWith(prefix)) rmSync(join(dirname(path), name), { force: true });
  }
}

/** fsync of a directory: makes a rename or a new name in it durable. */
function syncDirectory(directory: string): void {
  const fd = openSync(directory, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
