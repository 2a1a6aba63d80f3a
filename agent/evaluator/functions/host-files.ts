// How functions reach the host's files: every path an expression names is taken as absolute,
// normalised (so `..` cannot climb above `/`) and placed under providers.paths.root. With root `/`
// that is the machine itself; with a fixture root a test (or an agent watching a mounted host
// filesystem) reads `<root>/etc/...`. A missing or unreadable file is "not there", never an error:
// detectors probe for files that most machines do not have.
import type { Stats } from 'node:fs';
import { lstat, open, stat } from 'node:fs/promises';
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

/** The file's text (at most MAX_FILE_BYTES, read in chunks since /proc files report size 0), or undefined. */
export async function readHostFile(file: string): Promise<string | undefined> {
  let handle;
  try {
    handle = await open(file, 'r');
    const chunks: Buffer[] = [];
    let total = 0;
    while (total < MAX_FILE_BYTES) {
      const chunk = Buffer.alloc(Math.min(65_536, MAX_FILE_BYTES - total));
      const { bytesRead } = await handle.read(chunk, 0, chunk.length, null);
      if (bytesRead === 0) break;
      chunks.push(chunk.subarray(0, bytesRead));
      total += bytesRead;
    }
    return Buffer.concat(chunks).toString('utf8');
  } catch {
    return undefined;
  } finally {
    await handle?.close();
  }
}

/** stat (following links) or lstat, undefined when the path does not exist or cannot be read. */
export async function statHost(file: string, followLinks: boolean): Promise<Stats | undefined> {
  try {
    return await (followLinks ? stat(file) : lstat(file));
  } catch {
    return undefined;
  }
}
