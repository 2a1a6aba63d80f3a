// How functions name the host's files: every path an expression names is taken as absolute,
// normalised (so `..` cannot climb above `/`) and placed under providers.paths.root. With root `/`
// that is the machine itself; with a fixture root a test (or an agent watching a mounted host
// filesystem) reads `<root>/etc/...`. Reading and stat'ing go through CallContext.host
// (host/host-access.ts), which refuses protected files whatever path leads to them; a missing,
// unreadable or non-regular file is "not there", never an error: detectors probe for files that
// most machines do not have.
import type { BigIntStats } from 'node:fs';
import { join, posix } from 'node:path';
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

/** Changes whenever the file is rewritten: what caches of parsed host files are keyed by. */
export function fileVersion(stats: BigIntStats | undefined): string {
  return stats ? `${stats.mtimeNs}:${stats.size}` : '-';
}
