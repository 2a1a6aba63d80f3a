// How functions reach the host's files: every path an expression names is taken as absolute,
// normalised (so `..` cannot climb above `/`) and placed under providers.paths.root. With root `/`
// that is the machine itself; with a fixture root a test (or an agent watching a mounted host
// filesystem) reads `<root>/etc/...`. A missing or unreadable file is "not there", never an error:
// detectors probe for files that most machines do not have.
import { createReadStream, type Stats } from 'node:fs';
import { lstat, stat } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { MAX_FILE_BYTES } from '../limits.js';
import type { EvaluatorHostPaths } from '../providers.js';
import type { Arguments } from './arguments.js';

/** The real path for `path` under the host root; `path` must not contain NUL. */
export function hostPath(paths: EvaluatorHostPaths, path: string): string {
  return join(paths.root, posix.normalize(`/${path}`));
}

/** The path argument `index` resolved under the root, with a clear error for NUL bytes. */
export function hostPathArgument(args: Arguments, index: number, paths: EvaluatorHostPaths): string {
  const path = args.string(index);
  if (path.includes('\0')) throw args.error(index, 'must not contain a NUL character');
  return hostPath(paths, path);
}

/** The file's text (at most MAX_FILE_BYTES, read to the end since /proc files report size 0), or undefined. */
export async function readHostFile(file: string): Promise<string | undefined> {
  const chunks: Buffer[] = [];
  try {
    for await (const chunk of createReadStream(file, { end: MAX_FILE_BYTES - 1 }))
      chunks.push(chunk as Buffer);
  } catch {
    return undefined;
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** Changes whenever the file is rewritten: what caches of parsed host files are keyed by. */
export function fileVersion(stats: Stats | undefined): string {
  return stats ? `${stats.mtimeMs}:${stats.size}` : '-';
}

/** stat (following links) or lstat, undefined when the path does not exist or cannot be read. */
export async function statHost(file: string, followLinks: boolean): Promise<Stats | undefined> {
  try {
    return await (followLinks ? stat(file) : lstat(file));
  } catch {
    return undefined;
  }
}
